package boltstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/internal/storetest"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func open(t testing.TB, path string, now time.Time) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.Options{Now: func() time.Time { return now }, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestContract runs the store contract; a bolt file belongs to one node, so
// the "nodes" of the multi-node cases share one store.
func TestContract(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T, n int) []hub.Store {
		s := open(t, filepath.Join(t.TempDir(), "p.db"), t0)
		out := make([]hub.Store, n)
		for i := range out {
			out[i] = s
		}
		return out
	})
}

func TestSettingsContract(t *testing.T) {
	storetest.RunSettings(t, func(t *testing.T) privacy.Store { return open(t, filepath.Join(t.TempDir(), "p.db"), t0) })
}

// copyFile snapshots the file as a crash would leave it: whatever was
// fsynced, without what the process still held in memory.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAcknowledgedWritesAreOnDiskAndTouchesAreBatched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.db")
	s := open(t, path, t0)
	ctx := context.Background()
	until := t0.Add(time.Hour)
	ttl := t0.Add(30 * time.Second)
	if _, err := s.Update(ctx, "alice", func(st *presence.UserState) error {
		before := st.Fold()
		if err := st.Connect(presence.Session{ID: "s1", Device: "web", ActiveAt: t0, LastSeen: t0, ExpiresAt: ttl}); err != nil {
			return err
		}
		st.Apply(presence.StatusChange{CustomStatus: ptr("lunch"), CustomExpiresAt: &until})
		st.Settle(before, t0, presence.Timing{})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateSettings(ctx, "alice", func(p *privacy.Settings) error { p.Blocks = []string{"bob"}; return nil }); err != nil {
		t.Fatal(err)
	}
	// A touch is not waited for: it is written by the next flush.
	later := t0.Add(10 * time.Second)
	if _, err := s.Update(ctx, "alice", func(st *presence.UserState) error {
		st.Touch("s1", later, later.Add(30*time.Second))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	crash := filepath.Join(dir, "crash.db")
	copyFile(t, path, crash)

	// The crash copy has every acknowledged write; the session waits out
	// its grace from the opening, at the same version, and then ends last
	// seen at the lease's last renewal (the opening at t0 here).
	reopened := t0.Add(time.Minute)
	c := open(t, crash, reopened)
	m, _ := c.Load(ctx, []string{"alice"})
	st := m["alice"]
	if st.CustomStatus != "lunch" || len(st.Sessions) != 1 || st.Version != 1 ||
		!st.Sessions[0].GraceUntil.Equal(reopened.Add(5*time.Second)) {
		t.Fatalf("after a crash: %+v", st)
	}
	if due, _ := c.ClaimDue(ctx, reopened.Add(5*time.Second), 10); len(due) != 1 {
		t.Fatalf("the grace's end is not indexed: due = %v", due)
	}
	st, _ = c.Update(ctx, "alice", func(st *presence.UserState) error {
		st.Settle(st.Fold(), reopened.Add(5*time.Second), presence.Timing{})
		return nil
	})
	if len(st.Sessions) != 0 || !st.LastSeen.Equal(t0) || st.Version != 2 {
		t.Fatalf("after the grace: %+v", st)
	}
	ps, _ := c.LoadSettings(ctx, []string{"alice"})
	if len(ps["alice"].Blocks) != 1 {
		t.Fatalf("settings after a crash: %+v", ps)
	}
	// A clean close writes the touch too.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := open(t, path, t0.Add(time.Minute))
	m, _ = r.Load(ctx, []string{"alice"})
	if st := m["alice"]; !st.Sessions[0].LastSeen.Equal(later) || st.Fold().Status != presence.StatusOnline {
		t.Fatalf("after a clean close: %+v", st)
	}
}

func TestRestartClearsStatusesThatExpiredWhileDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s := open(t, path, t0)
	ctx := context.Background()
	soon, later := t0.Add(time.Minute), t0.Add(3*time.Hour)
	if _, err := s.Update(ctx, "alice", func(st *presence.UserState) error {
		before := st.Fold()
		st.Apply(presence.StatusChange{CustomStatus: ptr("brb"), CustomExpiresAt: &soon})
		st.Settle(before, t0, presence.Timing{})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "bob", func(st *presence.UserState) error {
		before := st.Fold()
		busy := presence.StatusBusy
		st.Apply(presence.StatusChange{Status: &busy, CustomStatus: ptr("deep work"), ExpiresAt: &later})
		st.Settle(before, t0, presence.Timing{})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := open(t, path, t0.Add(time.Hour))
	m, _ := r.Load(ctx, []string{"alice", "bob"})
	if a := m["alice"]; a.CustomStatus != "" || a.Version != 2 {
		t.Fatalf("alice = %+v: an expired custom status survived the restart", a)
	}
	if b := m["bob"]; b.CustomStatus != "deep work" || b.Manual != presence.StatusBusy || b.Version != 1 {
		t.Fatalf("bob = %+v", b)
	}
	// Bob's expiry is still indexed.
	due, _ := r.ClaimDue(ctx, later, 10)
	if len(due) != 1 || due[0] != "bob" {
		t.Fatalf("due = %v", due)
	}
}

func TestRefusesAnUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	// A real file cut short, and one whose pages were overwritten.
	good := filepath.Join(dir, "good.db")
	s := open(t, good, t0)
	for i := range 200 {
		id := strings.Repeat("u", 1+i%50) + string(rune('a'+i%26))
		if _, err := s.UpdateSettings(context.Background(), id, func(p *privacy.Settings) error {
			p.Contacts = []string{"x", "y", "z"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "truncated.db")
	_ = os.WriteFile(truncated, b[:len(b)/3], 0o600)
	scribbled := filepath.Join(dir, "scribbled.db")
	bad := append([]byte(nil), b...)
	for i := 2 * 4096; i < len(bad); i += 7 {
		bad[i] ^= 0x5a
	}
	_ = os.WriteFile(scribbled, bad, 0o600)
	unreadable := filepath.Join(dir, "unreadable.db")
	_ = os.WriteFile(unreadable, b, 0o000)

	for _, path := range []string{garbage, truncated, scribbled, unreadable} {
		if os.Geteuid() == 0 && path == unreadable {
			continue // root reads it anyway
		}
		before, _ := os.ReadFile(path)
		s, err := boltstore.Open(path, boltstore.Options{})
		if err == nil {
			_ = s.Close()
			t.Errorf("%s opened", filepath.Base(path))
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name the file", err)
		}
		after, _ := os.ReadFile(path)
		if string(before) != string(after) {
			t.Errorf("%s was changed by a refused open", filepath.Base(path))
		}
	}
}

func TestSecondProcessIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	open(t, path, t0)
	_, err := boltstore.Open(path, boltstore.Options{})
	if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestReopenHandsOutTheRoomsOfItsRecordsOnce: the records whose sessions
// list rooms or that owe room leaves are handed out once after opening,
// as opened; the others are not.
func TestReopenHandsOutTheRoomsOfItsRecordsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s := open(t, path, t0)
	ctx := context.Background()
	connect := func(user, session string, rooms ...string) {
		t.Helper()
		if _, err := s.Update(ctx, user, func(st *presence.UserState) error {
			before := st.Fold()
			err := st.Connect(presence.Session{ID: session, Device: "web", ActiveAt: t0, LastSeen: t0, Rooms: rooms})
			st.Settle(before, t0, presence.Timing{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	connect("alice", "a1", "doc")
	connect("bob", "b1")
	connect("carol", "c1", "call")
	// carol's session ends and owes its leave: the crash came before it
	// was performed.
	if _, err := s.Update(ctx, "carol", func(st *presence.UserState) error {
		before := st.Fold()
		st.Remove("c1", t0)
		st.Settle(before, t0, presence.Timing{})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if s.ResumedRooms() != nil {
		t.Fatal("a store that opened an empty file resumed rooms")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r := open(t, path, t0.Add(time.Minute))
	got := ""
	for _, st := range r.ResumedRooms() {
		got += st.UserID + ":"
		for room, conns := range st.HeldRooms() {
			for _, c := range conns {
				got += " " + room + "/" + c.SessionID
			}
		}
		if len(st.Sessions) > 0 && !st.Sessions[0].GraceUntil.Equal(t0.Add(time.Minute+5*time.Second)) {
			t.Errorf("%s's session as handed out: %+v, not in the grace the opening gave it", st.UserID, st.Sessions[0])
		}
		got += "\n"
	}
	if want := "alice: doc/a1\ncarol: call/c1\n"; got != want {
		t.Fatalf("resumed rooms\n%s want\n%s", got, want)
	}
	if again := r.ResumedRooms(); again != nil {
		t.Fatalf("handed out twice: %+v", again)
	}
}
