package boltstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// TestStatsCountWritesToTheFile checks the figures an operator reads to see
// whether idle sessions cost disk writes: a durable change is one commit of
// at least one page, a touch costs nothing until the next flush, and the
// flush commits it.
func TestStatsCountWritesToTheFile(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "p.db"), t0)
	ctx := context.Background()
	opened := s.Stats()
	if _, err := s.Update(ctx, "alice", func(st *presence.UserState) error {
		before := st.Fold()
		if err := st.Connect(presence.Session{ID: "s1", Device: "web", ActiveAt: t0, LastSeen: t0, ExpiresAt: t0.Add(30 * time.Second)}); err != nil {
			return err
		}
		st.Settle(before, t0, presence.Timing{})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	connected := s.Stats()
	if connected.Commits != opened.Commits+1 || connected.RecordChanges != opened.RecordChanges+1 {
		t.Fatalf("a durable change: commits %d → %d, record changes %d → %d; want one more of each",
			opened.Commits, connected.Commits, opened.RecordChanges, connected.RecordChanges)
	}
	if connected.PageWrites <= opened.PageWrites {
		t.Fatalf("a durable change wrote no page: %d → %d", opened.PageWrites, connected.PageWrites)
	}

	later := t0.Add(10 * time.Second)
	if _, err := s.Update(ctx, "alice", func(st *presence.UserState) error {
		st.Touch("s1", later, later.Add(30*time.Second))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if touched := s.Stats(); touched != connected {
		t.Fatalf("a touch was written before the flush: %+v → %+v", connected, touched)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed := s.Stats()
	if closed.RecordChanges != connected.RecordChanges+1 || closed.PageWrites <= connected.PageWrites {
		t.Fatalf("the flush at close: %+v → %+v; want one more record change, and pages written", connected, closed)
	}
}
