package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/storetest"
	"github.com/presenced/presenced/presence"
)

func connect(id, node string) func(st *presence.UserState) error {
	return func(st *presence.UserState) error {
		st.Version++
		return st.Connect(presence.Session{ID: id, Device: id, Node: node, ActiveAt: storetest.T0, LastSeen: storetest.T0})
	}
}

func remove(id string) func(st *presence.UserState) error {
	return func(st *presence.UserState) error {
		st.Version++
		st.Remove(id, storetest.T0)
		return nil
	}
}

func mustWrite(t *testing.T, s *Store, user string, fn func(st *presence.UserState) error) {
	t.Helper()
	if _, err := s.Update(ctx(t), user, fn); err != nil {
		t.Fatal(err)
	}
}

func expectCounts(t *testing.T, s *Store, users, sessions int64) {
	t.Helper()
	u, n, err := s.Counts(ctx(t))
	if err != nil || u != users || n != sessions {
		t.Fatalf("Counts = %d users, %d sessions (%v); want %d, %d", u, n, err, users, sessions)
	}
}

// TestCountsFollowTheRecords writes sessions from two nodes: the counts of
// either node follow every write that opens or ends one, a session in its
// grace counts, and writes that keep the sessions leave them alone.
func TestCountsFollowTheRecords(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			nodes := openNodes(t, url, 2, nil)
			a, b := nodes[0].Store, nodes[1].Store
			expectCounts(t, a, 0, 0)
			mustWrite(t, a, "alice", connect("web", "A"))
			expectCounts(t, b, 1, 1)
			mustWrite(t, b, "alice", connect("mobile", "B")) // a second device
			mustWrite(t, b, "bob", connect("web", "B"))
			expectCounts(t, a, 2, 3)
			mustWrite(t, a, "alice", func(st *presence.UserState) error {
				st.Disconnect("web", storetest.T0, storetest.T0, 5*time.Second)
				return nil
			})
			mustWrite(t, b, "alice", func(st *presence.UserState) error { st.CustomStatus = "away"; st.Version++; return nil })
			expectCounts(t, a, 2, 3)
			mustWrite(t, b, "alice", remove("web")) // the grace ends
			expectCounts(t, a, 2, 2)
			mustWrite(t, a, "alice", remove("mobile"))
			expectCounts(t, b, 1, 1)
			mustWrite(t, a, "bob", remove("web"))
			expectCounts(t, b, 0, 0)

			// Users over many slots, on every master of a cluster.
			for i := range 60 {
				mustWrite(t, nodes[i%2].Store, "u"+strconv.Itoa(i), connect("web", "A"))
			}
			expectCounts(t, a, 60, 60)
			for i := range 60 {
				mustWrite(t, nodes[i%2].Store, "u"+strconv.Itoa(i), remove("web"))
			}
			expectCounts(t, b, 0, 0)
		})
	}
}

// TestCountsOfRefusedAndRetriedWrites: a write whose function fails
// counts nothing, and one that conflicts with another node's write counts
// the record it finally writes, once.
func TestCountsOfRefusedAndRetriedWrites(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			nodes := openNodes(t, url, 2, nil)
			a, b := nodes[0].Store, nodes[1].Store
			mustWrite(t, a, "carol", connect("web", "A"))
			boom := errors.New("refused")
			if _, err := a.Update(ctx(t), "carol", func(st *presence.UserState) error {
				_ = connect("mobile", "A")(st)
				return boom
			}); !errors.Is(err, boom) {
				t.Fatalf("refused write: %v", err)
			}
			expectCounts(t, a, 1, 1)

			calls := 0
			mustWrite(t, a, "carol", func(st *presence.UserState) error {
				calls++
				if calls == 1 {
					// Another node writes between this one's read and its write.
					mustWrite(t, b, "carol", connect("tablet", "B"))
				}
				return connect("mobile", "A")(st)
			})
			if calls != 2 {
				t.Fatalf("the function ran %d times; want a conflict and one retry", calls)
			}
			if st := load(t, a, "carol"); len(st.Sessions) != 3 {
				t.Fatalf("carol = %+v", st.Sessions)
			}
			expectCounts(t, b, 1, 3)
		})
	}
}

// TestCountsOfRecordsFromBeforeThem plays a record written by a build
// without the counts: it counts nothing until its next write, and exactly
// from then on, never below zero.
func TestCountsOfRecordsFromBeforeThem(t *testing.T) {
	s := openNodes(t, redisURLs(t)["cluster"], 1, nil)[0].Store
	mustWrite(t, s, "dan", connect("web", ""))
	mustWrite(t, s, "dan", connect("mobile", ""))
	key := s.l.userKey("dan")
	for _, cmd := range [][]string{{"HDEL", key, "n"}, {"DEL", s.l.countsKey(Slot(key))}} {
		if err := s.client.Do(ctx(t), s.client.B().Arbitrary(cmd...).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	expectCounts(t, s, 0, 0)
	mustWrite(t, s, "dan", remove("web"))
	expectCounts(t, s, 1, 1)
	mustWrite(t, s, "dan", remove("mobile"))
	expectCounts(t, s, 0, 0)
}

func load(t *testing.T, s *Store, id string) presence.UserState {
	t.Helper()
	m, err := s.Load(ctx(t), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return m[id]
}

// TestConnectionsOfTheLiveNodes: each renewal publishes its node's
// connections; the sum leaves out a node whose lease lapsed, a lapsed
// node's later renewal leaves nothing behind, and ending its lease
// forgets its figure.
func TestConnectionsOfTheLiveNodes(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			conns, next := []int{3, 4}, 0
			nodes := openNodes(t, url, 2, func(c *Config) {
				i := next
				next++
				c.Connections = func() int { return conns[i] }
			})
			a, b := nodes[0].Store, nodes[1].Store
			t0 := storetest.T0
			renew := func(s *Store, node string, now time.Time) presence.LeaseState {
				t.Helper()
				st, err := s.RenewLease(ctx(t), node, now, now.Add(2*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			expect := func(now time.Time, want int64) {
				t.Helper()
				if n, err := a.Connections(ctx(t), now); err != nil || n != want {
					t.Fatalf("Connections at %s = %d, %v; want %d", now.Sub(t0), n, err, want)
				}
			}
			renew(a, "A", t0)
			renew(b, "B", t0)
			expect(t0, 7)
			conns[0] = 5
			renew(a, "A", t0.Add(time.Second))
			expect(t0.Add(time.Second), 9)
			// B stops renewing: its lease lapses 2 s after its last renewal.
			renew(a, "A", t0.Add(2*time.Second))
			expect(t0.Add(2*time.Second-time.Millisecond), 9)
			expect(t0.Add(2*time.Second), 5)

			lapsed, err := a.ClaimLapsed(ctx(t), t0.Add(2*time.Second), 30*time.Second, 10)
			if err != nil || len(lapsed) != 1 || lapsed[0].Node != "B" {
				t.Fatalf("ClaimLapsed = %v, %v", lapsed, err)
			}
			countsKept := func(want string) {
				t.Helper()
				fields, err := a.client.Do(ctx(t), a.client.B().Hkeys().Key(a.l.leaseConnsKey()).Build()).AsStrSlice()
				slices.Sort(fields)
				if got := strings.Join(fields, ","); err != nil || got != want {
					t.Fatalf("connection counts kept for %s (%v); want %s", got, err, want)
				}
			}
			countsKept("A,B")
			if err := a.EndLease(ctx(t), "B"); err != nil {
				t.Fatal(err)
			}
			countsKept("A")
			// B, back, writes its figure beside a renewal that is refused.
			if st := renew(b, "B", t0.Add(3*time.Second)); st != presence.LeaseLapsed {
				t.Fatalf("B's renewal after the end = %v", st)
			}
			countsKept("A")
			expect(t0.Add(3*time.Second), 5)
		})
	}
}

// BenchmarkCounts reads the counts of the 16,384 slots, 100 users online.
func BenchmarkCounts(b *testing.B) {
	for name, url := range redisURLs(b) {
		b.Run(name, func(b *testing.B) {
			s := openNodes(b, url, 1, nil)[0].Store
			for i := range 100 {
				if _, err := s.Update(context.Background(), "u"+strconv.Itoa(i), connect("web", "")); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if users, _, err := s.Counts(context.Background()); err != nil || users != 100 {
					b.Fatalf("Counts = %d users, %v", users, err)
				}
			}
		})
	}
}
