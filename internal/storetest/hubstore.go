// Package storetest holds contract test suites that every implementation
// of an interface must pass: run them from the implementation's tests
// (memory, embedded, Redis, Redis Cluster) so that all behave alike.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
)

// StoreFactory returns n stores sharing one state, as the n nodes of one
// deployment see it (a single-node store returns the same store n times).
// Each call starts from an empty state.
type StoreFactory func(t *testing.T, n int) []hub.Store

// T0 is the time the suites' clocks start at.
var T0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// RunStore runs the hub.Store contract against stores from newStores.
func RunStore(t *testing.T, newStores StoreFactory) {
	one := func(t *testing.T) hub.Store { return newStores(t, 1)[0] }
	t.Run("UpdateCreatesAndLoadReturns", func(t *testing.T) { testUpdateCreates(t, one(t)) })
	t.Run("FailedUpdateChangesNothing", func(t *testing.T) { testFailedUpdate(t, one(t)) })
	t.Run("ReturnedStatesAreNotShared", func(t *testing.T) { testNotShared(t, one(t)) })
	t.Run("ConcurrentUpdatesLoseNothing", func(t *testing.T) { testConcurrentUpdates(t, newStores(t, 3)) })
	t.Run("VersionsOrderAcrossNodes", func(t *testing.T) { testVersions(t, newStores(t, 2)) })
	t.Run("DeadlinesAreClaimedWhenDue", func(t *testing.T) { testDeadlines(t, one(t)) })
	t.Run("DeadlinesFollowTheLatestWrite", func(t *testing.T) { testDeadlineMoves(t, one(t)) })
	t.Run("ClaimDueRespectsMax", func(t *testing.T) { testClaimMax(t, one(t)) })
	t.Run("EachDueUserIsClaimedOnce", func(t *testing.T) { testClaimOnce(t, newStores(t, 3)) })
	t.Run("LoadMany", func(t *testing.T) { testLoadMany(t, one(t)) })
	t.Run("OwedLeavesAreKeptAndDue", func(t *testing.T) { testOwedLeaves(t, newStores(t, 2)) })
	if _, ok := one(t).(hub.Leases); ok {
		t.Run("LapsedLeaseIsClaimedOnce", func(t *testing.T) { testLeaseClaim(t, newStores(t, 3)) })
		t.Run("NodeUsersFollowSessions", func(t *testing.T) { testNodeUsers(t, one(t)) })
	}
}

func testLeaseClaim(t *testing.T, stores []hub.Store) {
	ls := make([]hub.Leases, len(stores))
	for i, s := range stores {
		ls[i] = s.(hub.Leases)
	}
	renew := func(l hub.Leases, node string, at time.Time) presence.LeaseState {
		t.Helper()
		state, err := l.RenewLease(ctx(t), node, at, at.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return state
	}
	if got := renew(ls[0], "x", T0); got != presence.LeaseNew {
		t.Fatalf("first renewal = %v, want new", got)
	}
	renewed := T0.Add(500 * time.Millisecond)
	if got := renew(ls[0], "x", renewed); got != presence.LeaseHeld {
		t.Fatalf("second renewal = %v, want held", got)
	}
	renew(ls[1], "y", T0.Add(10*time.Second))
	if got, _ := ls[1].ClaimLapsed(ctx(t), renewed.Add(999*time.Millisecond), 5*time.Second, 10); len(got) != 0 {
		t.Fatalf("claimed %v before the lease lapsed", got)
	}
	lapse := renewed.Add(time.Second)
	var mu sync.Mutex
	var claims []presence.Lapsed
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := l.ClaimLapsed(ctx(t), lapse, 5*time.Second, 10)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			claims = append(claims, got...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(claims) != 1 || claims[0].Node != "x" || !claims[0].Renewed.Equal(renewed) {
		t.Fatalf("claims = %+v, want x once, renewed at %v", claims, renewed)
	}
	// A claimed lease is not renewed: its node must not carry on.
	if got := renew(ls[2], "x", lapse); got != presence.LeaseLapsed {
		t.Fatalf("renewal of a claimed lease = %v, want lapsed", got)
	}
	// A claimer that dies is replaced when its claim ends.
	if got, _ := ls[1].ClaimLapsed(ctx(t), lapse.Add(4*time.Second), 5*time.Second, 10); len(got) != 0 {
		t.Fatalf("claimed again during the claim: %v", got)
	}
	got, _ := ls[1].ClaimLapsed(ctx(t), lapse.Add(5*time.Second), 5*time.Second, 10)
	if len(got) != 1 || got[0].Node != "x" {
		t.Fatalf("after the claim's end: %v", got)
	}
	if err := ls[1].EndLease(ctx(t), "x"); err != nil {
		t.Fatal(err)
	}
	if got := renew(ls[0], "x", lapse.Add(6*time.Second)); got != presence.LeaseLapsed {
		t.Fatalf("renewal of an ended lease = %v, want lapsed", got)
	}
	if got, _ := ls[0].ClaimLapsed(ctx(t), lapse.Add(time.Hour), 5*time.Second, 10); len(got) != 1 || got[0].Node != "y" {
		t.Fatalf("claims after the end = %v, want y only", got)
	}
}

func testNodeUsers(t *testing.T, s hub.Store) {
	l := s.(hub.Leases)
	on := func(node string) presence.Session {
		ss := session(node+"-s", T0)
		ss.Node = node
		return ss
	}
	for _, u := range []string{"u1", "u2"} {
		mustUpdate(t, s, u, func(st *presence.UserState) { _ = st.Connect(on("a")); st.Version++ })
	}
	mustUpdate(t, s, "u2", func(st *presence.UserState) { _ = st.Connect(on("b")); st.Version++ })
	mustUpdate(t, s, "u1", func(st *presence.UserState) { st.Remove("a-s", T0); st.Version++ })
	for node, want := range map[string]string{"a": "u2", "b": "u2"} {
		got, err := l.NodeUsers(ctx(t), node)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != want {
			t.Fatalf("NodeUsers(%s) = %v, want %s", node, got, want)
		}
	}
}

func session(id string, at time.Time) presence.Session {
	return presence.Session{ID: id, Device: "web", ActiveAt: at, LastSeen: at, ExpiresAt: at.Add(time.Minute)}
}

func testUpdateCreates(t *testing.T, s hub.Store) {
	got, err := s.Load(ctx(t), []string{"alice"})
	if err != nil || len(got) != 0 {
		t.Fatalf("Load of an unknown user = %v, %v; want empty", got, err)
	}
	st, err := s.Update(ctx(t), "alice", func(st *presence.UserState) error {
		if st.UserID != "alice" || st.Version != 0 || st.Live() {
			return fmt.Errorf("fresh state = %+v", st)
		}
		st.CustomStatus = "hello"
		st.Version++
		return st.Connect(session("s1", T0))
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.UserID != "alice" || st.Version == 0 || st.CustomStatus != "hello" || st.Session("s1") == nil {
		t.Fatalf("Update returned %+v", st)
	}
	got, err = s.Load(ctx(t), []string{"alice", "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["nobody"]; ok || len(got) != 1 {
		t.Fatalf("Load = %v; unknown users must be absent", got)
	}
	a := got["alice"]
	if a.UserID != "alice" || a.Version != st.Version || a.CustomStatus != "hello" || a.Session("s1") == nil ||
		!a.Session("s1").LastSeen.Equal(T0) {
		t.Fatalf("Load = %+v", a)
	}
}

func testFailedUpdate(t *testing.T, s hub.Store) {
	kept := mustUpdate(t, s, "bob", func(st *presence.UserState) { st.CustomStatus = "kept"; st.Version++ })
	boom := errors.New("boom")
	_, err := s.Update(ctx(t), "bob", func(st *presence.UserState) error {
		st.CustomStatus = "lost"
		st.Version++
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want fn's error", err)
	}
	if st := load(t, s, "bob"); st.CustomStatus != "kept" || st.Version != kept.Version {
		t.Fatalf("after a failed update: %+v", st)
	}
	_, err = s.Update(ctx(t), "nobody", func(*presence.UserState) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if got, _ := s.Load(ctx(t), []string{"nobody"}); len(got) != 0 {
		t.Fatalf("a failed update created %v", got)
	}
}

func testNotShared(t *testing.T, s hub.Store) {
	first := mustUpdate(t, s, "carol", func(st *presence.UserState) {
		_ = st.Connect(session("s1", T0))
		st.Version++
	})
	mustUpdate(t, s, "carol", func(st *presence.UserState) {
		st.Sessions[0].Device = "changed"
		st.Version++
	})
	if first.Sessions[0].Device != "web" {
		t.Fatalf("a state returned earlier changed under its reader: %+v", first.Sessions[0])
	}
}

// testConcurrentUpdates has every node append to one user's custom status
// at once: a lost update would lose a mark.
func testConcurrentUpdates(t *testing.T, stores []hub.Store) {
	const perWriter = 20
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*2)
	for i, s := range stores {
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range perWriter {
					mark := fmt.Sprintf("[%d.%d.%d]", i, w, k)
					if _, err := s.Update(ctx(t), "dave", func(st *presence.UserState) error {
						st.CustomStatus += mark
						st.Version++
						return nil
					}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := load(t, stores[0], "dave")
	if want := uint64(len(stores) * 2 * perWriter); st.Version < want {
		t.Fatalf("version %d after %d updates", st.Version, want)
	}
	for i := range stores {
		for w := range 2 {
			for k := range perWriter {
				if mark := fmt.Sprintf("[%d.%d.%d]", i, w, k); !strings.Contains(st.CustomStatus, mark) {
					t.Fatalf("update %s lost", mark)
				}
			}
		}
	}
}

// testVersions checks that what one node writes, the other reads and
// builds on: versions form one increasing sequence whoever writes. A store
// may assign larger versions than asked (Redis uses its clock as a floor),
// never smaller; the hidden version moves with the version it was set at.
func testVersions(t *testing.T, stores []hub.Store) {
	var last, hidden uint64
	for i := range 10 {
		st := mustUpdate(t, stores[i%2], "erin", func(st *presence.UserState) {
			if st.Version != last {
				t.Errorf("write %d read version %d, want %d", i, st.Version, last)
			}
			st.Version++
			if i == 4 {
				st.HiddenV = st.Version
			}
		})
		if st.Version <= last {
			t.Fatalf("write %d got version %d after %d", i, st.Version, last)
		}
		if i == 4 {
			hidden = st.Version
		}
		if st.HiddenV != hidden {
			t.Fatalf("write %d: hidden version %d, want %d", i, st.HiddenV, hidden)
		}
		last = st.Version
	}
	// Hiding and a visible change in one update (delta 2).
	st := mustUpdate(t, stores[0], "erin", func(st *presence.UserState) {
		st.Version++
		st.HiddenV = st.Version
		st.Version++
	})
	if st.Version < last+2 || st.HiddenV != st.Version-1 {
		t.Fatalf("v%d hv%d after v%d", st.Version, st.HiddenV, last)
	}
	for _, s := range stores {
		if got := load(t, s, "erin"); got.Version != st.Version || got.HiddenV != st.HiddenV {
			t.Fatalf("node reads v%d hv%d, want v%d hv%d", got.Version, got.HiddenV, st.Version, st.HiddenV)
		}
	}
}

func testDeadlines(t *testing.T, s hub.Store) {
	due := T0.Add(10 * time.Second)
	mustUpdate(t, s, "frank", func(st *presence.UserState) { st.Deadline = due })
	mustUpdate(t, s, "gina", func(st *presence.UserState) { st.Deadline = due.Add(time.Second) })
	if ids := claim(t, s, due.Add(-time.Millisecond), 100); len(ids) != 0 {
		t.Fatalf("claimed %v before the deadline", ids)
	}
	if ids := claim(t, s, due, 100); !equal(ids, "frank") {
		t.Fatalf("claimed %v at frank's deadline", ids)
	}
	if ids := claim(t, s, due, 100); len(ids) != 0 {
		t.Fatalf("claimed %v twice", ids)
	}
	// Settling writes the next deadline; it is claimed in its turn.
	mustUpdate(t, s, "frank", func(st *presence.UserState) { st.Deadline = due.Add(5 * time.Second) })
	if ids := claim(t, s, due.Add(time.Second), 100); !equal(ids, "gina") {
		t.Fatalf("claimed %v at gina's deadline", ids)
	}
	mustUpdate(t, s, "gina", func(st *presence.UserState) { st.Deadline = time.Time{} })
	if ids := claim(t, s, due.Add(5*time.Second), 100); !equal(ids, "frank") {
		t.Fatalf("claimed %v at frank's next deadline", ids)
	}
	// A claimed user is settled (here: nothing left to do), as the hub
	// does; a store may hand an unsettled claim out again later.
	mustUpdate(t, s, "frank", func(st *presence.UserState) { st.Deadline = time.Time{} })
	if ids := claim(t, s, due.Add(time.Hour), 100); len(ids) != 0 {
		t.Fatalf("claimed %v with no deadline left", ids)
	}
}

func testDeadlineMoves(t *testing.T, s hub.Store) {
	at := T0.Add(time.Minute)
	mustUpdate(t, s, "hank", func(st *presence.UserState) { st.Deadline = at })
	mustUpdate(t, s, "hank", func(st *presence.UserState) { st.Deadline = at.Add(-30 * time.Second) })
	if ids := claim(t, s, at.Add(-30*time.Second), 10); !equal(ids, "hank") {
		t.Fatalf("an earlier deadline was not claimed: %v", ids)
	}
	mustUpdate(t, s, "hank", func(st *presence.UserState) { st.Deadline = at.Add(time.Minute) })
	if ids := claim(t, s, at, 10); len(ids) != 0 {
		t.Fatalf("claimed %v at a deadline that moved later", ids)
	}
	if ids := claim(t, s, at.Add(time.Minute), 10); !equal(ids, "hank") {
		t.Fatalf("the later deadline was not claimed: %v", ids)
	}
	mustUpdate(t, s, "hank", func(st *presence.UserState) { st.Deadline = at.Add(2 * time.Minute) })
	mustUpdate(t, s, "hank", func(st *presence.UserState) { st.Deadline = time.Time{} })
	if ids := claim(t, s, at.Add(time.Hour), 10); len(ids) != 0 {
		t.Fatalf("claimed %v after the deadline was removed", ids)
	}
}

func testClaimMax(t *testing.T, s hub.Store) {
	ids := users("max", 100)
	for _, id := range ids {
		mustUpdate(t, s, id, func(st *presence.UserState) { st.Deadline = T0 })
	}
	seen := map[string]bool{}
	for range 100 {
		got := claim(t, s, T0, 10)
		if len(got) > 10 {
			t.Fatalf("ClaimDue(max 10) returned %d", len(got))
		}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("%s claimed twice", id)
			}
			seen[id] = true
			mustUpdate(t, s, id, func(st *presence.UserState) { st.Deadline = time.Time{} })
		}
		if len(seen) == len(ids) {
			return
		}
	}
	t.Fatalf("claimed %d of %d due users in 100 calls", len(seen), len(ids))
}

// testClaimOnce races every node's reaper over the same due users: each
// user goes to exactly one of them.
func testClaimOnce(t *testing.T, stores []hub.Store) {
	ids := users("once", 300)
	for _, id := range ids {
		mustUpdate(t, stores[0], id, func(st *presence.UserState) { st.Deadline = T0 })
	}
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				got, err := s.ClaimDue(ctx(t), T0, 20)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, id := range got {
					count[id]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if count[id] != 1 {
			t.Fatalf("%s claimed %d times; want exactly once", id, count[id])
		}
	}
}

func testLoadMany(t *testing.T, s hub.Store) {
	ids := users("many", 1000)
	versions := map[string]uint64{}
	for i, id := range ids {
		if i%3 == 0 {
			continue // unknown
		}
		versions[id] = mustUpdate(t, s, id, func(st *presence.UserState) { st.CustomStatus = id; st.Version++ }).Version
	}
	got, err := s.Load(ctx(t), ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		st, ok := got[id]
		if ok != (i%3 != 0) {
			t.Fatalf("%s present = %v", id, ok)
		}
		if ok && (st.CustomStatus != id || st.Version != versions[id] || st.UserID != id) {
			t.Fatalf("%s = %+v", id, st)
		}
	}
}

// testOwedLeaves ends a session in rooms on one node, as the hub does: the
// record keeps the leaves it owes and comes due for them, so another node
// can claim the user and find them; confirming them clears both.
func testOwedLeaves(t *testing.T, stores []hub.Store) {
	a, b := stores[0], stores[1]
	timing := presence.Timing{TTL: time.Minute}
	mustUpdate(t, a, "erin", func(st *presence.UserState) {
		s := session("s1", T0)
		s.Rooms = []string{"doc", "chat"}
		_ = st.Connect(s)
		st.Settle(presence.Presence{}, T0, timing)
	})
	var taken []presence.RoomLeave
	mustUpdate(t, a, "erin", func(st *presence.UserState) {
		before := st.Fold()
		st.Remove("s1", T0)
		st.Settle(before, T0, timing)
		taken, _ = st.TakeLeaves(T0, timing)
	})
	if len(taken) != 2 {
		t.Fatalf("taken %+v", taken)
	}
	// The node that took them dies: the retry comes due on the other.
	retry := T0.Add(presence.LeaveRetry)
	if got := claim(t, b, retry.Add(-time.Millisecond), 10); len(got) != 0 {
		t.Fatalf("claimed before the retry: %v", got)
	}
	if got := claim(t, b, retry, 10); !equal(got, "erin") {
		t.Fatalf("claimed at the retry: %v", got)
	}
	st := load(t, b, "erin")
	if len(st.Leaves) != 2 || st.Leaves[1] != (presence.RoomLeave{Room: "chat", SessionID: "s1", Since: T0}) || !st.LeavesDue.Equal(retry) {
		t.Fatalf("stored leaves %+v due %v", st.Leaves, st.LeavesDue)
	}
	var again []presence.RoomLeave
	mustUpdate(t, b, "erin", func(st *presence.UserState) {
		st.Settle(st.Fold(), retry, timing)
		again, _ = st.TakeLeaves(retry, timing)
	})
	mustUpdate(t, b, "erin", func(st *presence.UserState) {
		st.ClearLeaves(again)
		st.Settle(st.Fold(), retry, timing)
	})
	if st := load(t, a, "erin"); st.Leaves != nil || !st.LeavesDue.IsZero() || !st.Deadline.IsZero() {
		t.Fatalf("after confirming: leaves %+v due %v deadline %v", st.Leaves, st.LeavesDue, st.Deadline)
	}
	if got := claim(t, a, retry.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("claimed with nothing due: %v", got)
	}
}

func mustUpdate(t *testing.T, s hub.Store, id string, fn func(st *presence.UserState)) presence.UserState {
	t.Helper()
	st, err := s.Update(ctx(t), id, func(st *presence.UserState) error { fn(st); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func load(t *testing.T, s hub.Store, id string) presence.UserState {
	t.Helper()
	got, err := s.Load(ctx(t), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return got[id]
}

func claim(t *testing.T, s hub.Store, now time.Time, max int) []string {
	t.Helper()
	ids, err := s.ClaimDue(ctx(t), now, max)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	return ids
}

func users(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func equal(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
