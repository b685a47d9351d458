package boltstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
)

// writeFormat1 writes a file as builds before the binary records did: format
// "1" in the meta bucket, JSON user records and settings.
func writeFormat1(t *testing.T, path string, users map[string]presence.UserState, settings map[string]privacy.Settings) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		put := func(bucket string, id string, v any) error {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			data, err := json.Marshal(v)
			if err != nil {
				return err
			}
			return b.Put([]byte(id), data)
		}
		if err := put("meta", "format", json.RawMessage(`1`)); err != nil {
			return err
		}
		for id, st := range users {
			if err := put("users", id, st); err != nil {
				return err
			}
		}
		for id, p := range settings {
			if err := put("settings", id, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func metaFormat(t *testing.T, path string) string {
	t.Helper()
	return string(rawValue(t, path, "meta", "format"))
}

// rawValue reads a value of a closed data file as stored.
func rawValue(t *testing.T, path, bucket, key string) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v []byte
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucket)); b != nil {
			v = bytes.Clone(b.Get([]byte(key)))
		}
		return nil
	})
	return v
}

func TestOpensAFileOfJSONRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	later := t0.Add(3 * time.Hour)
	users := map[string]presence.UserState{
		// Offline, with a custom status and an expiry still ahead.
		"alice": {UserID: "alice", CustomStatus: "on leave", CustomEmoji: "🌴", CustomExpiresAt: later,
			LastSeen: t0.Add(-time.Hour), Version: 7, HiddenV: 3, Deadline: later, Kicks: 2},
		// Online when the old build stopped: the open gives the session its
		// grace, last seen where the record says (the file has no lease).
		"bob": {UserID: "bob", Sessions: []presence.Session{{ID: "s1", Device: "web", ActiveAt: t0, LastSeen: t0,
			ExpiresAt: t0.Add(30 * time.Second), Rooms: []string{"doc"}}}, Version: 4},
	}
	writeFormat1(t, path, users, map[string]privacy.Settings{"alice": {Blocks: []string{"mallory"}}})

	s := open(t, path, t0.Add(time.Minute))
	ctx := context.Background()
	m, err := s.Load(ctx, []string{"alice", "bob", "carol"})
	if err != nil {
		t.Fatal(err)
	}
	a := m["alice"]
	if a.CustomStatus != "on leave" || a.CustomEmoji != "🌴" || !a.CustomExpiresAt.Equal(later) || a.Version != 7 ||
		a.HiddenV != 3 || a.Kicks != 2 || !a.LastSeen.Equal(t0.Add(-time.Hour)) || a.UserID != "alice" {
		t.Fatalf("alice = %+v", a)
	}
	if b := m["bob"]; len(b.Sessions) != 1 || !b.Sessions[0].LastSeen.Equal(t0) || b.Version != 4 ||
		!b.Sessions[0].GraceUntil.Equal(t0.Add(time.Minute+5*time.Second)) || !b.Deadline.Equal(b.Sessions[0].GraceUntil) {
		t.Fatalf("bob = %+v: the old run's session is not in its grace", b)
	}
	if _, ok := m["carol"]; ok || len(m) != 2 {
		t.Fatalf("Load = %v", m)
	}
	var read []string
	if err := s.ReadStates(ctx, []string{"alice", "carol"}, func(id string, st *presence.UserState) {
		if st != nil {
			id += "=" + st.CustomStatus
		}
		read = append(read, id)
	}); err != nil || strings.Join(read, ",") != "alice=on leave,carol" {
		t.Fatalf("ReadStates = %v, %v", read, err)
	}
	ps, _ := s.LoadSettings(ctx, []string{"alice"})
	if len(ps["alice"].Blocks) != 1 {
		t.Fatalf("settings = %+v", ps)
	}
	// Alice's expiry is indexed (bob owes the leave of his room).
	due, _ := s.ClaimDue(ctx, later, 10)
	if !slices.Contains(due, "alice") {
		t.Fatalf("due = %v", due)
	}
	// A write turns alice's record binary; the file then reads as format 2.
	if _, err := s.Update(ctx, "alice", func(st *presence.UserState) error {
		st.Invisible = true
		st.Version++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if f := metaFormat(t, path); f != "2" {
		t.Fatalf("format after the open = %q, want 2", f)
	}
	if rec := rawValue(t, path, "users", "alice"); len(rec) == 0 || rec[0] != 1 { // the binary layout's header byte
		t.Fatalf("alice's record after a write = %q, want the binary layout", rec)
	}
	r := open(t, path, t0.Add(2*time.Minute))
	m, _ = r.Load(ctx, []string{"alice"})
	if a := m["alice"]; !a.Invisible || a.Version != 8 || a.CustomStatus != "on leave" || a.Kicks != 2 {
		t.Fatalf("alice after a write and a reopen = %+v", a)
	}
}

func TestRefusesAFileOfAnotherFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	writeFormat1(t, path, nil, nil)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte("3")) })
	_ = db.Close()
	_, err = boltstore.Open(path, boltstore.Options{})
	if err == nil || !strings.Contains(err.Error(), `has format "3"`) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
}

// TestBulkReadsSeeEveryChange reads more users than the decoded states kept
// for bulk reads, changing some between reads.
func TestBulkReadsSeeEveryChange(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "p.db"), t0)
	ctx := context.Background()
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = "u" + strconv.Itoa(i)
	}
	// set writes the texts concurrently, so that writes share commits.
	set := func(texts map[string]string) {
		t.Helper()
		var wg sync.WaitGroup
		limit := make(chan struct{}, 64)
		errs := make(chan error, len(texts))
		for id, text := range texts {
			limit <- struct{}{}
			wg.Go(func() {
				defer func() { <-limit }()
				_, err := s.Update(ctx, id, func(st *presence.UserState) error {
					st.CustomStatus = text
					return nil
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	first := map[string]string{}
	for i, id := range ids {
		if i%3 != 0 {
			first[id] = "first"
		}
	}
	set(first)
	for round := range 3 {
		changes := map[string]string{}
		for i, id := range ids {
			if i%7 == round {
				changes[id] = "round " + strconv.Itoa(round)
			}
		}
		set(changes)
		i := 0
		if err := s.ReadStates(ctx, ids, func(id string, st *presence.UserState) {
			want := "first"
			if i%7 <= round {
				want = "round " + strconv.Itoa(i%7)
			}
			switch {
			case id != ids[i]:
				t.Fatalf("read %s in place of %s", id, ids[i])
			case st == nil && want == "first" && i%3 == 0:
			case st == nil || st.CustomStatus != want || st.UserID != id:
				t.Fatalf("round %d, %s = %+v, want %q", round, id, st, want)
			}
			i++
		}); err != nil {
			t.Fatal(err)
		}
	}
}
