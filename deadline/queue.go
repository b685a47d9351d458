// Package deadline holds a priority queue of keys ordered by deadline. It is
// how presenced expires sessions and statuses without a goroutine or timer per
// key and without scanning: moving a deadline is O(log n), finding the due
// keys costs O(log n) each.
package deadline

import (
	"container/heap"
	"time"
)

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
			heap.Fix(&q.h, i)
		}
		return
	}
	heap.Push(&q.h, entry[K]{key: key, at: at})
}

// Remove takes key out of the queue, if it is there.
func (q *Queue[K]) Remove(key K) {
	if i, ok := q.h.index[key]; ok {
		heap.Remove(&q.h, i)
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
		e := heap.Pop(&q.h).(entry[K])
		dst = append(dst, e.key)
	}
	return dst
}

type entries[K comparable] struct {
	items []entry[K]
	index map[K]int
}

func (h *entries[K]) Len() int           { return len(h.items) }
func (h *entries[K]) Less(i, j int) bool { return h.items[i].at < h.items[j].at }
func (h *entries[K]) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.index[h.items[i].key] = i
	h.index[h.items[j].key] = j
}
func (h *entries[K]) Push(x any) {
	e := x.(entry[K])
	h.index[e.key] = len(h.items)
	h.items = append(h.items, e)
}
func (h *entries[K]) Pop() any {
	last := len(h.items) - 1
	e := h.items[last]
	h.items = h.items[:last]
	delete(h.index, e.key)
	if cap(h.items) > 64 && len(h.items) < cap(h.items)/4 {
		h.items = append([]entry[K](nil), h.items...)
	}
	return e
}
