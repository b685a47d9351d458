package boltstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/presence"
)

// TestCountsFollowTheChangesAndTheReopening checks the users and sessions
// GET /v1/stats reports on the embedded store: every change moves them, a
// refused one does not, and a reopened file starts at the sessions the
// previous run left in their grace.
func TestCountsFollowTheChangesAndTheReopening(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s := open(t, path, t0)
	ctx := context.Background()
	connect := func(user, id string) {
		t.Helper()
		if _, err := s.Update(ctx, user, func(st *presence.UserState) error {
			return st.Connect(presence.Session{ID: id, Device: id, ActiveAt: t0, LastSeen: t0, ExpiresAt: t0.Add(30 * time.Second)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(user, id string) {
		t.Helper()
		if _, err := s.Update(ctx, user, func(st *presence.UserState) error {
			st.Remove(id, t0)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(s *boltstore.Store, users, sessions int64) {
		t.Helper()
		u, n, err := s.Counts(ctx)
		if err != nil || u != users || n != sessions {
			t.Fatalf("counts %d users, %d sessions (%v); want %d, %d", u, n, err, users, sessions)
		}
	}
	want(s, 0, 0)
	connect("alice", "web")
	connect("alice", "phone")
	connect("bob", "web")
	want(s, 2, 3)
	refused := errors.New("refused")
	if _, err := s.Update(ctx, "carol", func(st *presence.UserState) error {
		_ = st.Connect(presence.Session{ID: "web", Device: "web", ActiveAt: t0, LastSeen: t0, ExpiresAt: t0.Add(30 * time.Second)})
		return refused
	}); !errors.Is(err, refused) {
		t.Fatal(err)
	}
	want(s, 2, 3)
	remove("alice", "phone")
	want(s, 2, 2)
	remove("bob", "web")
	want(s, 1, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want(open(t, path, t0.Add(time.Second)), 1, 1)
}
