package boltstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/webhook"
)

const (
	urlA = "http://127.0.0.1:1/a"
	urlB = "http://127.0.0.1:1/b"
)

// setStatus changes a user's manual status and returns the event fn
// derives for it, as the server's wrapper does.
func setStatus(t *testing.T, s *boltstore.Store, user string, status presence.Status) error {
	t.Helper()
	_, err := s.UpdateWithEvents(context.Background(), user, func(st *presence.UserState) ([]webhook.Event, error) {
		st.Manual = status
		return []webhook.Event{{Type: webhook.UserStatus, TimeMS: t0.UnixMilli(), UserID: user,
			Presence: &presence.Presence{UserID: user, Status: status}}}, nil
	})
	return err
}

// openOutbox opens the file at path with its outbox for targets.
func openOutbox(t *testing.T, path string, targets ...string) (*boltstore.Store, *boltstore.Outbox) {
	t.Helper()
	s := open(t, path, t0)
	ob, err := s.EnableOutbox(targets, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, ob
}

func pending(t *testing.T, ob *boltstore.Outbox, target string) []webhook.Event {
	t.Helper()
	evs, err := ob.Pending(context.Background(), target, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// statuses returns "user:status" for each event, from its stored JSON.
func statuses(t *testing.T, evs []webhook.Event) []string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		var v struct {
			ID       string `json:"id"`
			UserID   string `json:"user_id"`
			Presence struct {
				Status string `json:"status"`
			} `json:"presence"`
		}
		if err := json.Unmarshal(ev.AppendJSON(nil), &v); err != nil {
			t.Fatal(err)
		}
		if v.ID != ev.ID || v.UserID != ev.UserID {
			t.Fatalf("stored event %s does not match its id %q and user %q", ev.AppendJSON(nil), ev.ID, ev.UserID)
		}
		out = append(out, v.UserID+":"+v.Presence.Status)
	}
	return out
}

func ids(evs []webhook.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

// TestOutboxEventsAreDurableWithTheirChange takes the file as a kill -9
// would leave it right after acknowledged writes: their events are there,
// in order, for every URL, with the ids they were handed out with; those
// of a refused change or a change that writes nothing are not.
func TestOutboxEventsAreDurableWithTheirChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.db")
	s, ob := openOutbox(t, path, urlA, urlB)
	for _, c := range []struct {
		user   string
		status presence.Status
	}{{"alice", presence.StatusBusy}, {"bob", presence.StatusAway}, {"alice", presence.StatusAway}} {
		if err := setStatus(t, s, c.user, c.status); err != nil {
			t.Fatal(err)
		}
	}
	refused := errors.New("refused")
	if _, err := s.UpdateWithEvents(context.Background(), "carol", func(st *presence.UserState) ([]webhook.Event, error) {
		st.Manual = presence.StatusBusy
		return []webhook.Event{{Type: webhook.UserStatus, UserID: "carol"}}, refused
	}); !errors.Is(err, refused) {
		t.Fatalf("refused change: %v", err)
	}
	// The same status again writes nothing, so its event is not kept.
	if err := setStatus(t, s, "bob", presence.StatusAway); err != nil {
		t.Fatal(err)
	}
	want := []string{"alice:busy", "bob:away", "alice:away"}
	first := pending(t, ob, urlA)
	if got := statuses(t, first); !slices.Equal(got, want) {
		t.Fatalf("pending before the crash: %q, want %q", got, want)
	}
	if more := pending(t, ob, urlA); len(more) != 0 {
		t.Fatalf("handed out twice in one run: %q", ids(more))
	}
	if n := ob.Backlog(urlA); n != 3 {
		t.Fatalf("backlog %d, want 3", n)
	}

	crashed := filepath.Join(dir, "crashed.db")
	copyFile(t, path, crashed)
	r, rob := openOutbox(t, crashed, urlA, urlB)
	for _, u := range []string{urlA, urlB} {
		got := pending(t, rob, u)
		if !slices.Equal(statuses(t, got), want) || !slices.Equal(ids(got), ids(first)) {
			t.Errorf("%s after the crash: %q %q, want %q %q", u, statuses(t, got), ids(got), want, ids(first))
		}
	}
	// New events continue the sequence: no id is given twice.
	if err := setStatus(t, r, "dave", presence.StatusBusy); err != nil {
		t.Fatal(err)
	}
	next := pending(t, rob, urlA)
	if len(next) != 1 || slices.Contains(ids(first), next[0].ID) {
		t.Errorf("the next event after the restart: %q (ids before: %q)", ids(next), ids(first))
	}
}

// TestOutboxAcksAreWrittenWithTheNextCommit acknowledges events: they are
// not handed out again in this run, and once the next commit wrote the
// acknowledgement not after a restart either; ids are never reused once
// the queue is empty. Another URL's queue is untouched.
func TestOutboxAcksAreWrittenWithTheNextCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.db")
	s, ob := openOutbox(t, path, urlA, urlB)
	for _, u := range []string{"alice", "bob"} {
		if err := setStatus(t, s, u, presence.StatusBusy); err != nil {
			t.Fatal(err)
		}
	}
	evs := pending(t, ob, urlA)
	if err := ob.Ack(context.Background(), urlA, append(ids(evs), "evt_unknown_1", "junk")); err != nil {
		t.Fatal(err)
	}
	if n := ob.Backlog(urlA); n != 0 {
		t.Errorf("backlog after the ack %d, want 0", n)
	}
	before := filepath.Join(dir, "before.db")
	copyFile(t, path, before)
	s.Flush()
	after := filepath.Join(dir, "after.db")
	copyFile(t, path, after)

	// Killed before the acknowledgement was written: delivered again (at
	// least once).
	_, bob := openOutbox(t, before, urlA, urlB)
	if got := pending(t, bob, urlA); !slices.Equal(ids(got), ids(evs)) {
		t.Errorf("acknowledged but not written: %q, want %q again", ids(got), ids(evs))
	}

	a, aob := openOutbox(t, after, urlA, urlB)
	if got := pending(t, aob, urlA); len(got) != 0 {
		t.Errorf("acknowledged and written, handed out again: %q", ids(got))
	}
	if got := pending(t, aob, urlB); !slices.Equal(ids(got), ids(evs)) {
		t.Errorf("the other URL's queue: %q, want %q", ids(got), ids(evs))
	}
	if n := aob.Backlog(urlB); n != 2 {
		t.Errorf("the other URL's backlog after the restart: %d, want 2", n)
	}
	if err := setStatus(t, a, "carol", presence.StatusBusy); err != nil {
		t.Fatal(err)
	}
	if got := pending(t, aob, urlA); len(got) != 1 || slices.Contains(ids(evs), got[0].ID) {
		t.Errorf("after the queue emptied: %q, ids before %q", ids(got), ids(evs))
	}
}

// TestOutboxLimitDropsTheOldest keeps a URL's queue within its limit: the
// oldest events go, each reported, and the queue goes on with the rest.
func TestOutboxLimitDropsTheOldest(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "p.db"), t0)
	var dropped []string
	ob, err := s.EnableOutbox([]string{urlA}, 2, func(target string, ev *webhook.Event) {
		if target != urlA {
			t.Errorf("dropped for %q", target)
		}
		dropped = append(dropped, ev.UserID)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		if err := setStatus(t, s, u, presence.StatusBusy); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(dropped, []string{"u1", "u2"}) {
		t.Errorf("dropped %q, want u1 and u2", dropped)
	}
	if got := statuses(t, pending(t, ob, urlA)); !slices.Equal(got, []string{"u3:busy", "u4:busy"}) {
		t.Errorf("kept %q", got)
	}
	if n := ob.Backlog(urlA); n != 2 {
		t.Errorf("backlog %d, want 2", n)
	}
}

// TestOutboxOfARemovedURLIsDropped restarts with one URL fewer: its
// backlog is deleted (a production user who removes a receiver does not
// want its old events sent anywhere), the others' kept.
func TestOutboxOfARemovedURLIsDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := boltstore.Open(path, boltstore.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnableOutbox([]string{urlA, urlB}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := setStatus(t, s, "alice", presence.StatusBusy); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, ob := openOutbox(t, path, urlB)
	if got := statuses(t, pending(t, ob, urlB)); !slices.Equal(got, []string{"alice:busy"}) {
		t.Errorf("kept URL: %q", got)
	}
	if got := pending(t, ob, urlA); len(got) != 0 {
		t.Errorf("removed URL still has %q", ids(got))
	}
	// Adding it back starts an empty queue.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_, aob := openOutbox(t, path, urlA, urlB)
	if n := aob.Backlog(urlA); n != 0 {
		t.Errorf("re-added URL's backlog %d, want 0", n)
	}
}

// TestOutboxRoomEventsAreOnDiskWhenAdded checks AddEvents, the path of
// events whose change is not in the file (rooms): on disk when it
// returns, in the one sequence with the users' events.
func TestOutboxRoomEventsAreOnDiskWhenAdded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.db")
	s := open(t, path, t0)
	if _, err := s.EnableOutbox([]string{urlA}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := setStatus(t, s, "alice", presence.StatusBusy); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvents(webhook.Event{Type: webhook.RoomOccupied, TimeMS: t0.UnixMilli(), Room: "r"},
		webhook.Event{Type: webhook.RoomMemberJoined, TimeMS: t0.UnixMilli(), Room: "r", UserID: "alice"}); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(dir, "crashed.db")
	copyFile(t, path, crashed)
	_, ob := openOutbox(t, crashed, urlA)
	var got []string
	for _, ev := range pending(t, ob, urlA) {
		got = append(got, string(ev.Type)+" "+ev.Room+" "+ev.UserID)
	}
	want := []string{"user.status  alice", "room.occupied r ", "room.member_joined r alice"}
	if !slices.Equal(got, want) {
		t.Errorf("after the crash: %q, want %q", got, want)
	}
}
