package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/fakeclock"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/localbus"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// recorder is a Sink that keeps what it is sent. It can hold writes back to
// play a socket that does not drain.
type recorder struct {
	mu      sync.Mutex
	frames  [][]byte
	closed  int
	hold    chan struct{}
	holding atomic.Int32 // writes waiting on hold
}

func (r *recorder) WriteText(b []byte) error {
	if r.hold != nil {
		r.holding.Add(1)
		<-r.hold
	}
	r.mu.Lock()
	r.frames = append(r.frames, b)
	r.mu.Unlock()
	return nil
}
func (r *recorder) Ping() error { return nil }
func (r *recorder) Close(code int, _ string) {
	r.mu.Lock()
	r.closed = code
	r.mu.Unlock()
}

func (r *recorder) closeCode() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// waitClosed waits for r's connection to be closed (closes go out through
// the client's writer, after the frames queued before them) and checks
// the code.
func (r *recorder) waitClosed(t *testing.T, want int) {
	t.Helper()
	poll.Until(t, "the close", func() bool { return r.closeCode() != 0 })
	if got := r.closeCode(); got != want {
		t.Fatalf("connection closed with %d, want %d", got, want)
	}
}

func (r *recorder) updates() []presence.Presence {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []presence.Presence
	for _, f := range r.frames {
		var m struct {
			Type     string            `json:"type"`
			Presence presence.Presence `json:"presence"`
		}
		if json.Unmarshal(f, &m) == nil && m.Type == protocol.TypePresenceUpdate {
			out = append(out, m.Presence)
		}
	}
	return out
}

func newHub(t testing.TB, mutate func(*Config)) (*Hub, *fakeclock.Clock) {
	t.Helper()
	clock := fakeclock.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	cfg := Config{Store: memstore.New(), Bus: localbus.New(), Clock: clock, Writers: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, clock
}

func TestSlowReaderGetsOnlyTheLatestPerUser(t *testing.T) {
	h, _ := newHub(t, nil)
	ctx := context.Background()
	slow := &recorder{hold: make(chan struct{})}
	w := h.Open("watcher", "", time.Time{}, slow)
	if err := h.Subscribe(ctx, w, []string{"alice"}, nil); err != nil {
		t.Fatal(err)
	}
	// Once the writer is stuck on the snapshot, every update behind it
	// collapses into one.
	poll.Until(t, "the writer to block", func() bool { return slow.holding.Load() == 1 })
	for _, text := range []string{"one", "two", "three", "four"} {
		if _, err := h.SetStatus(ctx, "alice", presence.StatusChange{CustomStatus: &text}); err != nil {
			t.Fatal(err)
		}
	}
	close(slow.hold)
	poll.Until(t, "the collapsed update", func() bool { return len(slow.updates()) >= 1 })
	if n := len(slow.updates()); n != 1 {
		t.Fatalf("%d updates: %+v", n, slow.updates())
	}
	if got := slow.updates()[0]; got.CustomStatus != "four" || got.V != 4 {
		t.Fatalf("collapsed update = %+v, want the latest (four, v4)", got)
	}
}

func TestOverflowClosesSlowConsumerOnly(t *testing.T) {
	// Two writers: the held sink stalls its own (a real socket never blocks
	// its writer, see Sink), the fast reader is served by the other.
	h, _ := newHub(t, func(c *Config) { c.MaxPendingBytes = 8 << 10; c.Writers = 2 })
	ctx := context.Background()
	slow := &recorder{hold: make(chan struct{})}
	defer close(slow.hold)
	fast := &recorder{}
	ws := h.Open("slow", "", time.Time{}, slow)
	wf := h.Open("fast", "", time.Time{}, fast)
	var ids []string
	for i := range 40 {
		ids = append(ids, fmt.Sprintf("user%d", i))
	}
	for _, c := range []*Client{ws, wf} {
		if err := h.Subscribe(ctx, c, ids, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The snapshots (about 9 KB each) are one frame; the slow reader's 40
	// updates behind its stuck snapshot pass the 8 KiB bound.
	poll.Until(t, "the fast reader's snapshot", func() bool {
		fast.mu.Lock()
		defer fast.mu.Unlock()
		return len(fast.frames) == 1
	})
	text := "busy with a long custom status that takes up some room in every frame"
	for i, id := range ids {
		if _, err := h.SetStatus(ctx, id, presence.StatusChange{CustomStatus: &text}); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, "the fast reader to keep up", func() bool { return len(fast.updates()) >= i+1 })
	}
	poll.Until(t, "the slow consumer's close", func() bool {
		slow.mu.Lock()
		defer slow.mu.Unlock()
		return slow.closed == protocol.CloseSlowConsumer
	})
	if n := len(fast.updates()); n != len(ids) {
		t.Fatalf("fast reader got %d updates, want %d", n, len(ids))
	}
	fast.mu.Lock()
	defer fast.mu.Unlock()
	if fast.closed != 0 {
		t.Fatal("the fast reader was closed")
	}
}

func TestSubscribeLimitCountsDistinctUsers(t *testing.T) {
	h, _ := newHub(t, func(c *Config) { c.MaxSubscriptions = 2 })
	c := h.Open("w", "", time.Time{}, &recorder{})
	ctx := context.Background()
	if err := h.Subscribe(ctx, c, []string{"a", "a", "b"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Subscribe(ctx, c, []string{"c"}, nil); presence.ErrorCode(err) != presence.CodeLimitExceeded {
		t.Fatalf("err = %v", err)
	}
	if err := h.Unsubscribe(c, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := h.Subscribe(ctx, c, []string{"c"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTopicsAreReleasedWithTheirLastWatcher(t *testing.T) {
	h, _ := newHub(t, nil)
	ctx := context.Background()
	a := h.Open("a", "", time.Time{}, &recorder{})
	b := h.Open("b", "", time.Time{}, &recorder{})
	for _, c := range []*Client{a, b} {
		if err := h.Subscribe(ctx, c, []string{"x", "y"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if h.WatchedTopics() != 2 {
		t.Fatalf("topics = %d", h.WatchedTopics())
	}
	h.Disconnect(a)
	if h.WatchedTopics() != 2 {
		t.Fatalf("topics = %d after one watcher left", h.WatchedTopics())
	}
	h.Disconnect(b)
	if h.WatchedTopics() != 0 || h.ClientCount() != 0 {
		t.Fatalf("topics = %d, clients = %d after every watcher left", h.WatchedTopics(), h.ClientCount())
	}
}

func TestQuietConnectionIsPingedThenExpired(t *testing.T) {
	h, clock := newHub(t, nil)
	ctx := context.Background()
	pings := &pingCounter{}
	c := h.Open("alice", "web", time.Time{}, pings)
	if err := h.SetOnline(ctx, c, "web"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(15 * time.Second)
	h.Tick(ctx)
	if pings.n != 1 {
		t.Fatalf("pings = %d after a quiet interval", pings.n)
	}
	clock.Advance(14 * time.Second)
	h.Tick(ctx)
	if pings.closeCode() != 0 {
		t.Fatal("closed before the TTL")
	}
	clock.Advance(time.Second)
	h.Tick(ctx)
	pings.waitClosed(t, protocol.CloseExpired)
	ps, _ := h.Presences(ctx, "", []string{"alice"})
	if ps["alice"].Status != presence.StatusOffline {
		t.Fatalf("alice = %+v", ps["alice"])
	}
}

type pingCounter struct {
	recorder
	n int
}

func (p *pingCounter) Ping() error { p.n++; return nil }

// TestPongIsStoredWhileFresh: on a store without node leases, an idle
// connection shows life only by answering pings; the store must get that
// pong soon after it arrives, as the stored sign of life is what other
// nodes end the session by.
func TestPongIsStoredWhileFresh(t *testing.T) {
	h, clock := newHub(t, func(c *Config) { c.Store = refreshing{c.Store} })
	ctx := context.Background()
	pings := &pingCounter{}
	c := h.Open("alice", "web", time.Time{}, pings)
	if err := h.SetOnline(ctx, c, "web"); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		clock.Advance(15 * time.Second)
		h.Tick(ctx)
		if pings.n != round+1 {
			t.Fatalf("round %d: %d pings", round, pings.n)
		}
		clock.Advance(10 * time.Millisecond)
		h.Touch(c) // the pong
		pong := clock.Now()
		clock.Advance(h.pongCheck())
		h.Tick(ctx)
		states, _ := h.cfg.Store.Load(ctx, []string{"alice"})
		st := states["alice"]
		s := st.Session(c.SessionID)
		if s == nil || !s.LastSeen.Equal(pong) || !s.ExpiresAt.Equal(pong.Add(h.cfg.HeartbeatTTL+storeSlack)) {
			t.Fatalf("round %d: stored session %+v, want last seen %v", round, s, pong)
		}
	}
}

// TestOwnChangeKeepsOwnSessionAlive: on a store without node leases, when
// a session's stored expiry has
// lapsed (the store could not be refreshed for a while), a change the
// holding node writes must not end that live session.
func TestOwnChangeKeepsOwnSessionAlive(t *testing.T) {
	h, clock := newHub(t, func(c *Config) { c.Store = refreshing{c.Store} })
	ctx := context.Background()
	c := h.Open("alice", "web", time.Time{}, &recorder{})
	if err := h.SetOnline(ctx, c, "web"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	h.Touch(c)
	// The store's copy lapses behind the node's back, as after an outage.
	if _, err := h.cfg.Store.Update(ctx, "alice", func(st *presence.UserState) error {
		st.Sessions[0].ExpiresAt = clock.Now().Add(-time.Millisecond)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p, err := h.SetStatus(ctx, "alice", presence.StatusChange{Status: ptr(presence.StatusBusy)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != presence.StatusBusy || len(p.Devices) != 1 {
		t.Fatalf("alice after her own change = %+v; her live session was ended", p)
	}
}

func ptr[T any](v T) *T { return &v }

// kickedOnAnotherNode starts two nodes on store, each with its own bus (b
// hears nothing of a), opens a session of alice on b and kicks her
// through a.
func kickedOnAnotherNode(t *testing.T, store Store) (b *Hub, clock *fakeclock.Clock, c *Client, sink *recorder) {
	t.Helper()
	a, _ := newHub(t, func(c *Config) { c.Store = store; c.Node = "a" })
	b, clock = newHub(t, func(c *Config) { c.Store = store; c.Node = "b" })
	ctx := context.Background()
	sink = &recorder{}
	c = b.Open("alice", "web", time.Time{}, sink)
	if err := b.SetOnline(ctx, c, "web"); err != nil {
		t.Fatal(err)
	}
	if err := a.Kick(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	return b, clock, c, sink
}

func TestLiveSessionIsReassertedWhenTheStoreLostIt(t *testing.T) {
	store := memstore.New()
	h, clock := newHub(t, func(c *Config) { c.Store = refreshing{store} })
	ctx := context.Background()
	c := h.Open("alice", "web", time.Time{}, &recorder{})
	if err := h.SetOnline(ctx, c, "web"); err != nil {
		t.Fatal(err)
	}
	// The store forgets the session (as after an outage of a shared store).
	if _, err := store.Update(ctx, "alice", func(st *presence.UserState) error {
		st.Sessions = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	h.Touch(c)
	clock.Advance(15 * time.Second)
	h.Tick(ctx)
	states, _ := store.Load(ctx, []string{"alice"})
	st := states["alice"]
	if s := st.Session(c.SessionID); s == nil || s.Device != "web" {
		t.Fatalf("session not reasserted: %+v", st.Sessions)
	}
	if p := st.Fold(); p.Status != presence.StatusOnline {
		t.Fatalf("alice = %+v", p)
	}
}

// TestKickMissedByANodeClosesItsConnection: a node that does not hear of a
// kick (its control subscription was down) finds the session gone at its
// next refresh and closes the connection, instead of writing the session
// back as it does for a session the store lost.
func TestKickMissedByANodeClosesItsConnection(t *testing.T) {
	store := memstore.New()
	b, clock, c, sink := kickedOnAnotherNode(t, refreshing{store})
	ctx := context.Background()
	clock.Advance(10 * time.Second)
	b.Touch(c)
	clock.Advance(15 * time.Second)
	b.Tick(ctx)
	sink.waitClosed(t, protocol.CloseKicked)
	states, _ := store.Load(ctx, []string{"alice"})
	if st := states["alice"]; len(st.Sessions) != 0 || st.Kicks != 1 {
		t.Fatalf("alice after the kick: %+v", st)
	}
	// A session opened after the kick is written back if the store loses it.
	c2 := b.Open("alice", "web", time.Time{}, &recorder{})
	if err := b.SetOnline(ctx, c2, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(ctx, "alice", func(st *presence.UserState) error { st.Sessions = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	b.Touch(c2)
	clock.Advance(15 * time.Second)
	b.Tick(ctx)
	states, _ = store.Load(ctx, []string{"alice"})
	if st := states["alice"]; st.Session(c2.SessionID) == nil {
		t.Fatalf("the later session was not written back: %+v", st.Sessions)
	}
}
