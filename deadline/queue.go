// Package deadline holds a priority queue of keys ordered by deadline. It is
// how presenced expires sessions and statuses without a goroutine or timer per
// key and without scanning: moving a deadline is O(log n), finding the due
// keys costs O(log n) each.
package deadline

import "time"

// Queue orders keys by deadline. Each key is in the queue at most once. It is
// not safe for concurrent use: its owner holds the lock.
type Queue[K comparable] struct {
	h entries[K]
}

type entry[K comparable] struct {
	key K
	at  int64 // unix nanoseconds
}

// New returns an empty queue.
func New[K comparable]() *Queue[K] {
	return &Queue[K]{h: entries[K]{index: make(map[K]int)}}
}

// Len returns the number of keys in the queue.
func (q *Queue[K]) Len() int { return len(q.h.items) }

// Set schedules key at t, moving it when it is already queued.
func (q *Queue[K]) Set(key K, t time.Time) {
	at := t.UnixNano()
	if i, ok := q.h.index[key]; ok {
		if q.h.items[i].at != at {
			q.h.items[i].at = at
			q.h.fix(i)
		}
		return
	}
	q.h.items = append(q.h.items, entry[K]{key: key, at: at})
	q.h.up(len(q.h.items) - 1)
}

// Remove takes key out of the queue, if it is there.
func (q *Queue[K]) Remove(key K) {
	if i, ok := q.h.index[key]; ok {
		q.h.remove(i)
	}
}

// At returns key's deadline and whether it is queued.
func (q *Queue[K]) At(key K) (time.Time, bool) {
	i, ok := q.h.index[key]
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, q.h.items[i].at), true
}

// Next returns the earliest deadline, and false when the queue is empty.
func (q *Queue[K]) Next() (time.Time, bool) {
	if len(q.h.items) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, q.h.items[0].at), true
}

// PopDue removes and appends to dst up to max keys whose deadline is at or
// before now, earliest first. max <= 0 means no limit.
func (q *Queue[K]) PopDue(now time.Time, max int, dst []K) []K {
	n := now.UnixNano()
	for len(q.h.items) > 0 && q.h.items[0].at <= n && (max <= 0 || len(dst) < max) {
		dst = append(dst, q.h.remove(0).key)
	}
	return dst
}

// entries is a 4-ary min-heap of deadlines with each key's position. Four
// children per node halve the depth of a binary heap, and moving the hole
// rather than swapping writes each moved key's position once: the index
// map's writes were most of the cost of taking a due key out and putting
// it back, which the hub does for every connection once per heartbeat
// interval.
type entries[K comparable] struct {
	items []entry[K]
	index map[K]int
}

const arity = 4

// up moves the element at i towards the root until its parent is not later.
func (h *entries[K]) up(i int) {
	e := h.items[i]
	for i > 0 {
		p := (i - 1) / arity
		if h.items[p].at <= e.at {
			break
		}
		h.put(i, h.items[p])
		i = p
	}
	h.put(i, e)
}

// put places e at i and notes its position.
func (h *entries[K]) put(i int, e entry[K]) {
	h.items[i] = e
	h.index[e.key] = i
}

// down moves the element at i towards the leaves until no child is earlier.
func (h *entries[K]) down(i int) {
	e := h.items[i]
	n := len(h.items)
	for {
		first := arity*i + 1
		if first >= n {
			break
		}
		best := first
		for c := first + 1; c < min(first+arity, n); c++ {
			if h.items[c].at < h.items[best].at {
				best = c
			}
		}
		if h.items[best].at >= e.at {
			break
		}
		h.put(i, h.items[best])
		i = best
	}
	h.put(i, e)
}

// fix restores the order after the deadline at i changed.
func (h *entries[K]) fix(i int) {
	if i > 0 && h.items[i].at < h.items[(i-1)/arity].at {
		h.up(i)
	} else {
		h.down(i)
	}
}

// remove takes out the element at i, fills its place with the last one,
// and gives the storage back once the queue has shrunk to a quarter of it.
func (h *entries[K]) remove(i int) entry[K] {
	e := h.items[i]
	last := len(h.items) - 1
	if i != last {
		h.items[i] = h.items[last]
	}
	h.items = h.items[:last]
	delete(h.index, e.key)
	if i != last {
		h.fix(i)
	}
	if cap(h.items) > 64 && len(h.items) < cap(h.items)/4 {
		h.items = append([]entry[K](nil), h.items...)
	}
	return e
}
