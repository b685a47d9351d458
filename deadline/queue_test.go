package deadline

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var base = time.Unix(1_800_000_000, 0)

func at(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }

func TestPopDueInOrder(t *testing.T) {
	q := New[string]()
	q.Set("c", at(3))
	q.Set("a", at(1))
	q.Set("b", at(2))
	q.Set("late", at(10))
	got := q.PopDue(at(3), 0, nil)
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("due = %v", got)
	}
	if q.Len() != 1 {
		t.Fatalf("len = %d", q.Len())
	}
	if next, _ := q.Next(); !next.Equal(at(10)) {
		t.Fatalf("next = %v", next)
	}
}

func TestSetMovesAndRemove(t *testing.T) {
	q := New[int]()
	q.Set(1, at(1))
	q.Set(2, at(2))
	q.Set(1, at(5)) // moved later
	q.Remove(2)
	if got := q.PopDue(at(4), 0, nil); len(got) != 0 {
		t.Fatalf("due = %v, want none", got)
	}
	if d, ok := q.At(1); !ok || !d.Equal(at(5)) {
		t.Fatalf("At(1) = %v %v", d, ok)
	}
	if got := q.PopDue(at(5), 0, nil); !slices.Equal(got, []int{1}) {
		t.Fatalf("due = %v", got)
	}
	if _, ok := q.Next(); ok {
		t.Fatal("queue not empty")
	}
}

func TestPopDueLimit(t *testing.T) {
	q := New[int]()
	for i := range 10 {
		q.Set(i, at(i))
	}
	if got := q.PopDue(at(100), 3, nil); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("due = %v", got)
	}
}

// setOrRemove sets one of keys random keys at a random time (two times in
// three) or removes it, and notes the same in want.
func setOrRemove(r *rand.Rand, q *Queue[int], want map[int]int, keys int) {
	k := r.IntN(keys)
	if r.IntN(3) == 2 {
		q.Remove(k)
		delete(want, k)
		return
	}
	s := r.IntN(1000)
	q.Set(k, at(s))
	want[k] = s
}

func TestRandomAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	q := New[int]()
	want := map[int]int{}
	for range 5000 {
		setOrRemove(r, q, want, 500)
	}
	got := q.PopDue(at(1000), 0, nil)
	if len(got) != len(want) {
		t.Fatalf("popped %d, want %d", len(got), len(want))
	}
	for i := 1; i < len(got); i++ {
		if want[got[i-1]] > want[got[i]] {
			t.Fatalf("out of order at %d", i)
		}
	}
}

func BenchmarkSetMove(b *testing.B) {
	q := New[int]()
	const n = 20000
	for i := range n {
		q.Set(i, at(i))
	}
	b.ResetTimer()
	for i := range b.N {
		q.Set(i%n, at(n+i))
	}
}

// BenchmarkPopDue times expiring keys from a queue holding many more that
// are not due: the cost of a tick that finds work.
func BenchmarkPopDue(b *testing.B) {
	q := New[int]()
	const pending, due = 20000, 100
	for i := range pending {
		q.Set(i, at(1_000_000+i))
	}
	buf := make([]int, 0, due)
	b.ResetTimer()
	for i := range b.N {
		for k := range due {
			q.Set(pending+k, at(i))
		}
		buf = q.PopDue(at(i), 0, buf[:0])
		if len(buf) != due {
			b.Fatalf("popped %d, want %d", len(buf), due)
		}
	}
	b.ReportMetric(float64(due*b.N)/b.Elapsed().Seconds(), "expiries/s")
}

// TestIndexFollowsEveryMove checks, after each operation of a random mix,
// that every queued key's deadline is where the queue says and that the
// earliest is at the front: the index must follow each element the heap
// moves, or At, Set and Remove act on the wrong element.
func TestIndexFollowsEveryMove(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	q := New[int]()
	want := map[int]int{}
	for step := range 20000 {
		if r.IntN(4) != 0 {
			setOrRemove(r, q, want, 300)
		} else {
			now := r.IntN(1000)
			for _, got := range q.PopDue(at(now), 1+r.IntN(5), nil) {
				if want[got] > now {
					t.Fatalf("step %d: popped %d due at %d before %d", step, got, want[got], now)
				}
				delete(want, got)
			}
		}
		if q.Len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, q.Len(), len(want))
		}
		earliest := -1
		for k, s := range want {
			d, ok := q.At(k)
			if !ok || !d.Equal(at(s)) {
				t.Fatalf("step %d: At(%d) = %v %v, want %v", step, k, d, ok, at(s))
			}
			if earliest < 0 || s < earliest {
				earliest = s
			}
		}
		if next, ok := q.Next(); ok != (earliest >= 0) || ok && !next.Equal(at(earliest)) {
			t.Fatalf("step %d: Next() = %v %v, want %v", step, next, ok, at(earliest))
		}
	}
}

// BenchmarkReschedule is the liveness pattern: 10,000 connections, each
// taken out when due and put back one heartbeat interval later, keyed by
// pointer as the hub's are. One op is one connection looked at.
func BenchmarkReschedule(b *testing.B) {
	type conn struct{ _ [64]byte }
	const n = 10000
	q := New[*conn]()
	for i := range n {
		q.Set(&conn{}, at(i))
	}
	buf := make([]*conn, 0, 1)
	b.ResetTimer()
	for i := range b.N {
		buf = q.PopDue(at(i+n), 1, buf[:0])
		q.Set(buf[0], at(i+2*n))
	}
}
