package hub

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/presence"
)

// stallingPolicy is a Policy whose answers for one viewer wait until
// released once armed, as a privacy cache does on a miss that must read
// the store.
type stallingPolicy struct {
	viewer  string
	armed   atomic.Bool
	stalled chan struct{} // closed when an answer starts waiting
	release chan struct{}
}

func (p *stallingPolicy) Level(viewer, _ string) presence.Level {
	if viewer == p.viewer && p.armed.CompareAndSwap(true, false) {
		close(p.stalled)
		<-p.release
	}
	return presence.LevelFull
}

// A fan-out that waits on a viewer's privacy level must not hold the topic
// shard's lock meanwhile: subscribing to the same user goes on.
func TestFanoutWaitHoldsNoTopicLock(t *testing.T) {
	pol := &stallingPolicy{viewer: "slow", stalled: make(chan struct{}), release: make(chan struct{})}
	h, _ := newHub(t, func(c *Config) { c.Policy = pol })
	ctx := context.Background()
	slow, fast := &recorder{}, &recorder{}
	for _, w := range []struct {
		user string
		sink *recorder
	}{{"slow", slow}, {"fast", fast}} {
		if err := h.Subscribe(ctx, h.Open(w.user, "", time.Time{}, w.sink), []string{"bob"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	pol.armed.Store(true)
	text := "in a meeting"
	go func() { _, _ = h.SetStatus(ctx, "bob", presence.StatusChange{CustomStatus: &text}) }()
	select {
	case <-pol.stalled:
	case <-time.After(5 * time.Second):
		t.Fatal("the fan-out never asked for the slow viewer's level")
	}
	done := make(chan error, 1)
	late := &recorder{}
	go func() { done <- h.Subscribe(ctx, h.Open("late", "", time.Time{}, late), []string{"bob"}, nil) }()
	returns(t, done, pol.release, "subscribing waited for a fan-out stuck on a privacy level")
	gotStatus(t, text, slow, fast)
}

// returns waits for done, then closes release; if done takes more than
// 5s it closes release and fails with why.
func returns(t *testing.T, done chan error, release chan struct{}, why string) {
	t.Helper()
	defer close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal(why)
	}
}

// gotStatus waits until each recorder has had one update, to text.
func gotStatus(t *testing.T, text string, rs ...*recorder) {
	t.Helper()
	for _, r := range rs {
		poll.Until(t, "the update", func() bool {
			u := r.updates()
			return len(u) == 1 && u[0].CustomStatus == text
		})
	}
}

// Handing a client to a writer never waits: with the writer stuck on one
// socket and its channel full, subscribes and fan-outs still return, and
// every client is written once the writer moves on.
func TestFullWriterQueueDoesNotBlockFanout(t *testing.T) {
	defer func(n int) { writerQueueLen = n }(writerQueueLen)
	writerQueueLen = 2
	h, _ := newHub(t, func(c *Config) { c.Writers = 1 })
	ctx := context.Background()
	stuck := &recorder{hold: make(chan struct{})}
	h.Open("stuck", "", time.Time{}, stuck).Send([]byte(`{"type":"pong"}`))
	poll.Until(t, "the writer to block", func() bool { return stuck.holding.Load() == 1 })

	watchers := make([]*recorder, 10)
	done := make(chan error, 1)
	text := "away for lunch"
	go func() {
		for i := range watchers {
			watchers[i] = &recorder{}
			if err := h.Subscribe(ctx, h.Open("w", "", time.Time{}, watchers[i]), []string{"bob"}, nil); err != nil {
				done <- err
				return
			}
		}
		_, err := h.SetStatus(ctx, "bob", presence.StatusChange{CustomStatus: &text})
		done <- err
	}()
	returns(t, done, stuck.hold, "subscribe or fan-out waited for a writer's full queue")
	gotStatus(t, text, watchers...)
}

// loadingPolicy is a Policy with a cache: a user's settings are loaded on
// first need, by Prepare or by a miss in Level, and loading slow waits
// until release.
type loadingPolicy struct {
	slow    string
	stalled chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	loaded  map[string]bool
}

func (p *loadingPolicy) load(id string) {
	p.mu.Lock()
	done := p.loaded[id]
	p.mu.Unlock()
	if done {
		return
	}
	if id == p.slow {
		p.once.Do(func() { close(p.stalled) })
		<-p.release
	}
	p.mu.Lock()
	p.loaded[id] = true
	p.mu.Unlock()
}

func (p *loadingPolicy) Prepare(_ context.Context, ids []string) error {
	for _, id := range ids {
		if id == p.slow {
			p.load(id) // alone: only the fan-out's own load is slow
		}
	}
	return nil
}

func (p *loadingPolicy) Level(_, target string) presence.Level {
	p.load(target)
	return presence.LevelFull
}

// A room member event whose member's settings must be loaded does not load
// them under the room's lock.
func TestRoomFanoutLoadsPrivacyOutsideTheRoomLock(t *testing.T) {
	pol := &loadingPolicy{slow: "slow", stalled: make(chan struct{}), release: make(chan struct{}), loaded: map[string]bool{}}
	h, _ := newHub(t, withRooms(func(c *Config) { c.Policy = pol }))
	member(t, h, "alice", "r")
	done := make(chan error, 1)
	go func() {
		c := h.Open("slow", "web", time.Time{}, &recorder{})
		c.AllowRooms([]string{"*"})
		done <- h.JoinRoom(context.Background(), c, "r", nil, nil)
	}()
	select {
	case <-pol.stalled:
	case <-time.After(5 * time.Second):
		t.Fatal("the member's settings were never loaded")
	}
	locked := make(chan error, 1)
	go func() {
		rt := h.rooms.get("r")
		rt.mu.Lock()
		members := len(rt.subs)
		rt.mu.Unlock()
		if members == 0 {
			locked <- errors.New("the room has no local member")
			return
		}
		locked <- nil
	}()
	returns(t, locked, pol.release, "the room's lock was held while the member's settings loaded")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
