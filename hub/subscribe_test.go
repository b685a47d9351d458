package hub

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
)

// loadFailStore is a real in-memory store whose reads fail while down is
// set, as a store that lost its connection between two requests.
type loadFailStore struct {
	*memstore.Store
	down atomic.Bool
}

var errLoadDown = errors.New("store is down")

func (s *loadFailStore) Load(ctx context.Context, ids []string) (map[string]presence.UserState, error) {
	if s.down.Load() {
		return nil, errLoadDown
	}
	return s.Store.Load(ctx, ids)
}

// TestFailedSubscribeKeepsEarlierSubscriptions: a subscribe that fails on
// the store undoes only the subscriptions it added.
func TestFailedSubscribeKeepsEarlierSubscriptions(t *testing.T) {
	store := &loadFailStore{Store: memstore.New()}
	h, _ := newHub(t, func(c *Config) { c.Store = store })
	ctx := context.Background()
	rec := &recorder{}
	w := h.Open("watcher", "", time.Time{}, rec)
	if err := h.Subscribe(ctx, w, []string{"alice"}, nil); err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	err := h.Subscribe(ctx, w, []string{"alice", "bob"}, nil)
	if presence.ErrorCode(err) != presence.CodeUnavailable {
		t.Fatalf("subscribe with the store down = %v, want unavailable", err)
	}
	w.mu.Lock()
	n := w.subs.Len()
	w.mu.Unlock()
	if n != 1 {
		t.Fatalf("the connection watches %d users after the failed subscribe, want 1 (alice)", n)
	}
	if bob := h.topics.get("bob"); bob != nil {
		t.Fatalf("bob's topic outlived the failed subscribe that added it")
	}
	store.down.Store(false)
	text := "back"
	if _, err := h.SetStatus(ctx, "alice", presence.StatusChange{CustomStatus: &text}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "alice's update", func() bool {
		for _, p := range rec.updates() {
			if p.UserID == "alice" && p.CustomStatus == "back" {
				return true
			}
		}
		return false
	})
}

// TestAppliedFollowsFanOut: Applied reports a version once its fan-out is
// done, and nothing for a user no local connection watches.
func TestAppliedFollowsFanOut(t *testing.T) {
	h, _ := newHub(t, nil)
	ctx := context.Background()
	if _, ok := h.Applied("alice"); ok {
		t.Fatal("Applied reports a user nobody watches")
	}
	rec := &recorder{hold: make(chan struct{})}
	defer close(rec.hold)
	w := h.Open("watcher", "", time.Time{}, rec)
	if err := h.Subscribe(ctx, w, []string{"alice"}, nil); err != nil {
		t.Fatal(err)
	}
	// The writer holds the snapshot: what follows stays in the queue.
	poll.Until(t, "the writer to block", func() bool { return rec.holding.Load() == 1 })
	if v, ok := h.Applied("alice"); !ok || v != 0 {
		t.Fatalf("Applied after the first read = %d %v, want 0 true", v, ok)
	}
	text := "here"
	p, err := h.SetStatus(ctx, "alice", presence.StatusChange{CustomStatus: &text})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := h.Applied("alice"); v != p.V {
		t.Fatalf("Applied = %d after the update's fan-out, want %d", v, p.V)
	}
	w.mu.Lock()
	n := len(w.out.frames)
	w.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d frames queued by the time Applied reported the update, want 1", n)
	}
}
