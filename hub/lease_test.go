package hub

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// countingStore counts the writes a hub asks of a store with leases.
type countingStore struct {
	*memstore.Store
	updates atomic.Int32
	lost    atomic.Bool // the next renewal finds the lease gone
}

func (s *countingStore) Update(ctx context.Context, userID string, fn func(st *presence.UserState) error) (presence.UserState, error) {
	s.updates.Add(1)
	return s.Store.Update(ctx, userID, fn)
}

func (s *countingStore) RenewLease(ctx context.Context, node string, now, until time.Time) (presence.LeaseState, error) {
	state, err := s.Store.RenewLease(ctx, node, now, until)
	if s.lost.Swap(false) {
		state = presence.LeaseNew
	}
	return state, err
}

func stored(t *testing.T, s Store, user string) presence.UserState {
	t.Helper()
	m, err := s.Load(context.Background(), []string{user})
	if err != nil {
		t.Fatal(err)
	}
	return m[user]
}

// TestIdleSessionsWriteNothing: with node leases, a session that only
// heartbeats costs the store nothing however long it lasts, and a silent
// one is ended by its own node at its TTL, in one write.
func TestIdleSessionsWriteNothing(t *testing.T) {
	store := &countingStore{Store: memstore.New()}
	h, clock := newHub(t, func(c *Config) { c.Store = store })
	ctx := context.Background()
	quiet, silent := &pingCounter{}, &recorder{}
	a := h.Open("alice", "web", time.Time{}, quiet)
	b := h.Open("bob", "web", time.Time{}, silent)
	for _, c := range []*Client{a, b} {
		if err := h.SetOnline(ctx, c, "web"); err != nil {
			t.Fatal(err)
		}
	}
	wrote := store.updates.Load()
	start := clock.Now()
	for clock.Now().Sub(start) < h.cfg.HeartbeatTTL-time.Second {
		clock.Advance(250 * time.Millisecond)
		h.Touch(a)
		h.Tick(ctx)
	}
	if n := store.updates.Load() - wrote; n != 0 {
		t.Fatalf("%d store writes for sessions that changed nothing", n)
	}
	for clock.Now().Sub(start) < h.cfg.HeartbeatTTL {
		clock.Advance(250 * time.Millisecond)
		h.Touch(a)
		h.Tick(ctx)
	}
	silent.waitClosed(t, protocol.CloseExpired)
	if n := store.updates.Load() - wrote; n != 1 {
		t.Fatalf("%d store writes for one session's end", n)
	}
	if st := stored(t, store, "bob"); st.Live() || !st.LastSeen.Equal(start) {
		t.Fatalf("bob after his TTL: %+v", st)
	}
	if st := stored(t, store, "alice"); !st.Live() {
		t.Fatalf("alice: %+v", st)
	}
}

// TestClosedSessionIsLastSeenAtItsClose: a dropped socket and a
// set_offline are last seen when they happen, not at the last heartbeat.
func TestClosedSessionIsLastSeenAtItsClose(t *testing.T) {
	h, clock := newHub(t, nil)
	ctx := context.Background()
	a := h.Open("alice", "web", time.Time{}, &recorder{})
	b := h.Open("bob", "web", time.Time{}, &recorder{})
	for _, c := range []*Client{a, b} {
		if err := h.SetOnline(ctx, c, "web"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(10 * time.Second) // no heartbeat meanwhile
	closedAt := clock.Now()
	h.Disconnect(a)
	if err := h.SetOffline(ctx, b); err != nil {
		t.Fatal(err)
	}
	clock.Advance(h.cfg.OfflineGrace)
	h.Tick(ctx)
	for _, u := range []string{"alice", "bob"} {
		if st := stored(t, h.cfg.Store, u); st.Live() || !st.LastSeen.Equal(closedAt) {
			t.Fatalf("%s: %+v, want offline last seen at %v", u, st, closedAt)
		}
	}
}

// TestLapsedNodesSessionsEndOnce: a node that stops renewing its lease
// (killed) has its sessions ended by one of the others within its last
// renewal + TTL + 1 s, last seen at that renewal; a watcher sees one
// offline.
func TestLapsedNodesSessionsEndOnce(t *testing.T) {
	sn := newSharedNodes()
	dead, b, c := sn.node(t, 1, nil), sn.node(t, 2, nil), sn.node(t, 3, nil)
	ctx := context.Background()
	bob := dead.Open("bob", "web", time.Time{}, &recorder{})
	if err := dead.SetOnline(ctx, bob, "web"); err != nil {
		t.Fatal(err)
	}
	watch := &recorder{}
	w := b.Open("alice", "web", time.Time{}, watch)
	if err := b.Subscribe(ctx, w, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}
	// The node lives a while, then dies (it stops ticking).
	for range 10 {
		sn.clock.Advance(100 * time.Millisecond)
		dead.Tick(ctx)
	}
	renewed := sn.clock.Now().Add(-100 * time.Millisecond).Truncate(dead.leaseEvery())
	for st := stored(t, sn.store, "bob"); st.Live(); st = stored(t, sn.store, "bob") {
		if sn.clock.Now().After(renewed.Add(b.cfg.HeartbeatTTL + time.Second)) {
			t.Fatalf("bob still online at %v; the dead node last renewed at %v", sn.clock.Now(), renewed)
		}
		sn.clock.Advance(50 * time.Millisecond)
		for _, h := range []*Hub{b, c} {
			w.lastSign.Store(sn.clock.Now().UnixNano())
			h.Tick(ctx)
		}
	}
	st := stored(t, sn.store, "bob")
	if st.LastSeen.Before(renewed) || st.LastSeen.After(renewed.Add(dead.leaseEvery())) {
		t.Fatalf("bob last seen %v, the dead node renewed its lease last at about %v", st.LastSeen, renewed)
	}
	offlines := func() (n int) {
		for _, p := range watch.updates() {
			if p.UserID == "bob" && p.Status == presence.StatusOffline {
				n++
			}
		}
		return n
	}
	poll.Until(t, "the watcher to see bob offline", func() bool { return offlines() > 0 })
	// More ticks of both nodes (the claim ended) change nothing.
	for range 20 {
		sn.clock.Advance(50 * time.Millisecond)
		w.lastSign.Store(sn.clock.Now().UnixNano())
		b.Tick(ctx)
		c.Tick(ctx)
	}
	if n := offlines(); n != 1 {
		t.Fatalf("the watcher saw %d offlines of bob", n)
	}
	if users, _ := sn.store.NodeUsers(ctx, dead.node()); len(users) != 0 {
		t.Fatalf("the lapsed node's index still lists %v", users)
	}
}

// TestReturningNodeDoesNotResurrect: a node that stalls past its lease
// finds it lapsed when it renews again; it does not write back the
// sessions another node ended, closes its clients to reconnect, and the
// sessions they open are its own under a new name, which nobody ends.
func TestReturningNodeDoesNotResurrect(t *testing.T) {
	sn := newSharedNodes()
	stalled, other := sn.node(t, 1, nil), sn.node(t, 2, nil)
	ctx := context.Background()
	sink := &recorder{}
	bob := stalled.Open("bob", "web", time.Time{}, sink)
	if err := stalled.SetOnline(ctx, bob, "web"); err != nil {
		t.Fatal(err)
	}
	oldName := stalled.node()
	for st := stored(t, sn.store, "bob"); st.Live(); st = stored(t, sn.store, "bob") {
		sn.clock.Advance(250 * time.Millisecond)
		other.Tick(ctx)
	}
	v := stored(t, sn.store, "bob").Version
	stalled.Touch(bob)
	stalled.Reassert() // the store answering again, say, before the renewal
	stalled.Tick(ctx)  // renews: lapsed
	sink.waitClosed(t, protocol.CloseServiceRestart)
	if stalled.node() == oldName {
		t.Fatalf("after its lapse the node is still named %s", oldName)
	}
	if st := stored(t, sn.store, "bob"); st.Live() || st.Version != v {
		t.Fatalf("bob came back after his node's lapse: %+v", st)
	}
	stalled.Disconnect(bob)
	stalled.Reassert()
	stalled.Tick(ctx)
	if st := stored(t, sn.store, "bob"); st.Live() || st.Version != v {
		t.Fatalf("bob came back after his node's lapse: %+v", st)
	}
	again := stalled.Open("bob", "web", time.Time{}, &recorder{})
	if err := stalled.SetOnline(ctx, again, "web"); err != nil {
		t.Fatal(err)
	}
	for range 3 * int(stalled.cfg.HeartbeatTTL/time.Second) {
		sn.clock.Advance(time.Second)
		stalled.Touch(again)
		stalled.Tick(ctx)
		other.Tick(ctx)
	}
	if st := stored(t, sn.store, "bob"); st.Session(again.SessionID) == nil || st.Session(again.SessionID).Node != stalled.node() {
		t.Fatalf("bob's new session: %+v", st.Sessions)
	}
}

// TestLostLeaseWritesSessionsBack: a store that lost the node's lease (a
// Redis restart without persistence) lost its records too: the node
// writes its live sessions back.
func TestLostLeaseWritesSessionsBack(t *testing.T) {
	store := &countingStore{Store: memstore.New()}
	h, clock := newHub(t, func(c *Config) { c.Store = store })
	ctx := context.Background()
	c := h.Open("alice", "web", time.Time{}, &recorder{})
	if err := h.SetOnline(ctx, c, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Store.Update(ctx, "alice", func(st *presence.UserState) error { st.Sessions = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	store.lost.Store(true)
	clock.Advance(time.Second)
	h.Touch(c)
	h.Tick(ctx) // the renewal finds no lease: Reassert
	clock.Advance(10 * time.Millisecond)
	h.Tick(ctx)
	if st := stored(t, store, "alice"); st.Session(c.SessionID) == nil {
		t.Fatalf("the session was not written back: %+v", st)
	}
}

// TestKickMissedIsFoundWhenTheControlTopicReturns: with leases nothing
// refreshes a session, so a node that missed a kick (its control
// subscription was down) looks for one when the subscription returns, and
// closes the kicked connection instead of writing its session back.
func TestKickMissedIsFoundWhenTheControlTopicReturns(t *testing.T) {
	store := memstore.New()
	b, clock, _, sink := kickedOnAnotherNode(t, store)
	ctx := context.Background()
	b.control(nil) // b's control subscription comes back
	clock.Advance(10 * time.Millisecond)
	b.Tick(ctx)
	sink.waitClosed(t, protocol.CloseKicked)
	if st := stored(t, store, "alice"); st.Live() || st.Kicks != 1 {
		t.Fatalf("alice after the kick: %+v", st)
	}
}

// TestClosedHubsLeaseLapsesAtOnce: a hub that closes lets its lease lapse,
// so another node takes over what it left open at its next look, not a
// TTL later.
func TestClosedHubsLeaseLapsesAtOnce(t *testing.T) {
	sn := newSharedNodes()
	closing, other := sn.node(t, 1, nil), sn.node(t, 2, nil)
	ctx := context.Background()
	bob := closing.Open("bob", "web", time.Time{}, &recorder{})
	if err := closing.SetOnline(ctx, bob, "web"); err != nil {
		t.Fatal(err)
	}
	closing.Close() // no Disconnect: the session is left open
	closedAt := sn.clock.Now()
	sn.clock.Advance(other.leaseEvery())
	other.Tick(ctx)
	if st := stored(t, sn.store, "bob"); st.Live() || !st.LastSeen.Equal(closedAt) {
		t.Fatalf("bob a lease period after his node closed: %+v", st)
	}
}

// TestQuietConnectionsArePutBackForTheirNextCheck: at its check, a
// connection heard from within the interval is only rescheduled (one
// interval after it was heard, or at its token's expiry if sooner), with
// no ping and no store write, while a silent one is pinged and looked at
// again soon.
func TestQuietConnectionsArePutBackForTheirNextCheck(t *testing.T) {
	store := &countingStore{Store: memstore.New()}
	h, clock := newHub(t, func(c *Config) { c.Store = store })
	ctx := context.Background()
	iv := h.cfg.HeartbeatInterval
	start := clock.Now()
	expiry := start.Add(iv + iv/4)
	sinks := []*pingCounter{{}, {}, {}}
	heard := h.Open("alice", "web", time.Time{}, sinks[0])
	expiring := h.Open("bob", "web", expiry, sinks[1])
	silent := h.Open("carol", "web", time.Time{}, sinks[2])
	for _, c := range []*Client{heard, expiring, silent} {
		if err := h.SetOnline(ctx, c, "web"); err != nil {
			t.Fatal(err)
		}
	}
	wrote := store.updates.Load()
	clock.Advance(iv / 2)
	h.Touch(heard)
	h.Touch(expiring)
	touched := clock.Now()
	clock.Advance(iv / 2)
	h.Tick(ctx) // all three are due
	checkAt := func(c *Client, want time.Time) {
		t.Helper()
		h.live.mu.Lock()
		got, ok := h.live.q.At(c)
		h.live.mu.Unlock()
		if !ok || !got.Equal(want) {
			t.Errorf("%s's next check at %v (queued %v), want %v", c.UserID, got, ok, want)
		}
	}
	checkAt(heard, touched.Add(iv))
	checkAt(expiring, expiry)
	checkAt(silent, clock.Now().Add(h.pongCheck()))
	if sinks[0].n != 0 || sinks[1].n != 0 || sinks[2].n != 1 {
		t.Errorf("pings: heard %d, expiring %d, silent %d; want 0, 0, 1", sinks[0].n, sinks[1].n, sinks[2].n)
	}
	if n := store.updates.Load() - wrote; n != 0 {
		t.Errorf("%d store writes for connections that changed nothing", n)
	}
}
