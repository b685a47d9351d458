package hub

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/fakeclock"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
)

var errPartDown = errors.New("part of the store unreachable")

// partlyDownStore is a real store of which one part fails while down is
// set, as a Redis Cluster with one master lost and the others serving
// (cluster-require-full-coverage no): claims give what the rest holds
// together with an error, and the users whose records are on the lost
// part (lost) cannot be written. No real fault fails one part of an
// in-memory store; server's TestRedisReaperKeepsGoingWhileAMasterIsFrozen
// does it with a frozen Redis master.
type partlyDownStore struct {
	*memstore.Store
	lost     map[string]bool
	down     atomic.Bool
	failures atomic.Int32 // writes refused for lost users
}

var _ Store = (*partlyDownStore)(nil)

// unreachable tells whether userID's record is on the part that is down.
// If so, the user's deadline entry stays, as a claim's lease keeps it:
// what the in-memory claim took is put back.
func (s *partlyDownStore) unreachable(ctx context.Context, userID string) bool {
	if !s.down.Load() || !s.lost[userID] {
		return false
	}
	s.failures.Add(1)
	_, _ = s.Store.Update(ctx, userID, func(*presence.UserState) error { return nil })
	return true
}

func (s *partlyDownStore) Update(ctx context.Context, userID string, fn func(st *presence.UserState) error) (presence.UserState, error) {
	if s.unreachable(ctx, userID) {
		return presence.UserState{}, errPartDown
	}
	return s.Store.Update(ctx, userID, fn)
}

func (s *partlyDownStore) Load(ctx context.Context, userIDs []string) (map[string]presence.UserState, error) {
	for _, id := range userIDs {
		if s.unreachable(ctx, id) {
			return nil, errPartDown
		}
	}
	return s.Store.Load(ctx, userIDs)
}

func (s *partlyDownStore) ClaimDue(ctx context.Context, now time.Time, max int) ([]string, error) {
	ids, err := s.Store.ClaimDue(ctx, now, max)
	if err == nil && s.down.Load() {
		err = errPartDown
	}
	return ids, err
}

// refreshing hides a store's node leases: the hub then refreshes each
// session's record and ends a dead node's sessions at their stored
// expiry, as on a store without leases.
type refreshing struct{ Store }

// messageCounter is a slog.Handler counting the records logged per message.
type messageCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *messageCounter) Enabled(context.Context, slog.Level) bool { return true }
func (m *messageCounter) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m *messageCounter) WithGroup(string) slog.Handler            { return m }
func (m *messageCounter) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n[r.Message]++
	return nil
}

// count returns how many records logged a message starting with prefix.
func (m *messageCounter) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	total := 0
	for msg, n := range m.n {
		if strings.HasPrefix(msg, prefix) {
			total += n
		}
	}
	return total
}

// TestReaperSettlesWhatItCanWhilePartOfTheStoreIsDown: while claims fail
// for part of the store, due users elsewhere are still settled (a dead
// node's session ends a tick after its expiry), a user whose record is unreachable
// is not, and the failures are logged in a few lines. When every part
// answers again, a reaper writes its sessions back and holds before
// ending anything, so a live session whose stored expiry lapsed meanwhile
// is not ended by a node that saw the return before the session's own
// node did.
func TestReaperSettlesWhatItCanWhilePartOfTheStoreIsDown(t *testing.T) {
	store := &partlyDownStore{Store: memstore.New(), lost: map[string]bool{"alice": true}}
	clock := fakeclock.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	logs := &messageCounter{n: map[string]int{}}
	node := func(name string) *Hub {
		h, _ := newHub(t, func(c *Config) {
			c.Store, c.Clock, c.Node = refreshing{store}, clock, name
			c.HeartbeatInterval, c.HeartbeatTTL = time.Second, 3*time.Second
			if name == "a" {
				c.Logger = slog.New(logs)
			}
		})
		return h
	}
	a, b, gone := node("a"), node("b"), node("gone")
	ctx := context.Background()
	alice := b.Open("alice", "web", time.Time{}, &recorder{})
	if err := b.SetOnline(ctx, alice, "web"); err != nil {
		t.Fatal(err)
	}
	// bob's node dies: nothing refreshes his session any more.
	if err := gone.SetOnline(ctx, gone.Open("bob", "web", time.Time{}, &recorder{}), "web"); err != nil {
		t.Fatal(err)
	}
	bobEnds := clock.Now().Add(3*time.Second + storeSlack)
	stored := func(user string) *presence.UserState {
		t.Helper()
		states, err := store.Store.Load(ctx, []string{user})
		if err != nil {
			t.Fatal(err)
		}
		st := states[user]
		return &st
	}
	step := func(nodes ...*Hub) {
		clock.Advance(250 * time.Millisecond)
		b.Touch(alice)
		for _, h := range nodes {
			h.Tick(ctx)
		}
	}

	store.down.Store(true)
	for clock.Now().Add(250 * time.Millisecond).Before(bobEnds) {
		step(a, b)
		if !stored("bob").Live() {
			t.Fatalf("bob ended at %v, before his expiry %v", clock.Now(), bobEnds)
		}
	}
	// Claimed now, his record read; settled at the next tick, whose claim
	// shows the same part still down.
	step(a, b)
	step(a, b)
	if st := stored("bob"); st.Live() {
		t.Fatalf("bob still live at %v while part of the store is down: %+v", clock.Now(), st.Sessions)
	}
	// alice's record cannot be written: her refreshes fail, her stored
	// expiry lapses, and the reapers claim her and fail again and again.
	for range 40 {
		step(a, b)
	}
	st := stored("alice")
	if s := st.Session(alice.SessionID); s == nil || !s.ExpiresAt.Before(clock.Now()) {
		t.Fatalf("alice in the store during the outage: %+v", st.Sessions)
	}
	if n := store.failures.Load(); n < 10 {
		t.Fatalf("alice was claimed and failed %d times; want a retry every tick she is due", n)
	}
	if n := logs.count("settling due users failed"); n < 1 || n > 2 {
		t.Fatalf("%d warnings about unsettled users over %s; want one per %s", n, 11*time.Second, settleWarnEvery)
	}

	// Every part answers again. a sees it first; b, holding alice, is
	// slower to write her back. a must not end her meanwhile.
	store.down.Store(false)
	back := clock.Now()
	for clock.Now().Before(back.Add(reapHold - 250*time.Millisecond)) {
		step(a)
		if stored("alice").Session(alice.SessionID) == nil {
			t.Fatalf("alice ended %s after the store came back, within the hold", clock.Now().Sub(back))
		}
	}
	step(b) // b sees the return and asks for its sessions to be written back
	step(b) // ... which this tick does
	if s := stored("alice").Session(alice.SessionID); s == nil || !s.ExpiresAt.After(clock.Now()) {
		t.Fatalf("alice not written back: %+v", stored("alice").Sessions)
	}
	for range 20 {
		step(a, b)
	}
	if stored("alice").Session(alice.SessionID) == nil {
		t.Fatal("alice ended after the hold although her node keeps her alive")
	}
	if n := logs.count("a failed part of the store answers again"); n != 1 {
		t.Fatalf("%d recoveries logged, want 1", n)
	}
}

// partsDownStore is a real store whose claims fail for the parts set in
// failed, saying which (as redisstore's claim errors do).
type partsDownStore struct {
	*memstore.Store
	failed atomic.Uint64
}

type partsError uint64

func (e partsError) Error() string       { return "parts of the store unreachable" }
func (e partsError) FailedParts() uint64 { return uint64(e) }

func (s *partsDownStore) ClaimDue(ctx context.Context, now time.Time, max int) ([]string, error) {
	ids, err := s.Store.ClaimDue(ctx, now, max)
	if f := s.failed.Load(); err == nil && f != 0 {
		err = partsError(f)
	}
	return ids, err
}

// TestReaperHoldsWhenOnePartReturnsWhileAnotherIsStillDown: two parts
// fail; one answers again while the other does not. That return is a
// return like any other: the reaper writes its sessions back and holds,
// and a user due at that moment is ended only after the hold.
func TestReaperHoldsWhenOnePartReturnsWhileAnotherIsStillDown(t *testing.T) {
	store := &partsDownStore{Store: memstore.New()}
	clock := fakeclock.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	node := func(name string) *Hub {
		h, _ := newHub(t, func(c *Config) {
			c.Store, c.Clock, c.Node = refreshing{store}, clock, name
			c.HeartbeatInterval, c.HeartbeatTTL = time.Second, 3*time.Second
		})
		return h
	}
	a, gone := node("a"), node("gone")
	ctx := context.Background()
	if err := gone.SetOnline(ctx, gone.Open("dan", "web", time.Time{}, &recorder{}), "web"); err != nil {
		t.Fatal(err)
	}
	danEnds := clock.Now().Add(3*time.Second + storeSlack)
	live := func() bool {
		states, err := store.Store.Load(ctx, []string{"dan"})
		if err != nil {
			t.Fatal(err)
		}
		st := states["dan"]
		return st.Live()
	}
	store.failed.Store(0b11)
	for clock.Now().Add(250 * time.Millisecond).Before(danEnds) {
		clock.Advance(250 * time.Millisecond)
		a.Tick(ctx)
	}
	// Part 1 answers again at the tick that claims dan.
	store.failed.Store(0b10)
	clock.Advance(250 * time.Millisecond)
	a.Tick(ctx)
	back := clock.Now()
	for clock.Now().Before(back.Add(reapHold - 250*time.Millisecond)) {
		clock.Advance(250 * time.Millisecond)
		a.Tick(ctx)
		if !live() {
			t.Fatalf("dan ended %s after part of the store came back, within the hold", clock.Now().Sub(back))
		}
	}
	for range 4 {
		clock.Advance(250 * time.Millisecond)
		a.Tick(ctx)
	}
	if live() {
		t.Fatal("dan still live after the hold")
	}
}
