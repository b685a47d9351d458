package hub

import "sync"

// watchCounts counts, per user, the users watched by all the user's
// connections on this node (a user watched from two connections counts
// twice: it is memory that the bound protects). Subscribe reserves its new
// subscriptions here before making them, so concurrent subscribes from
// several connections of one user cannot pass the bound together.
type watchCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// reserve adds k to user's count unless that would pass max (max <= 0:
// no bound), and reports whether it did.
func (w *watchCounts) reserve(user string, k, max int) bool {
	if k <= 0 {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if max > 0 && w.n[user]+k > max {
		return false
	}
	if w.n == nil {
		w.n = make(map[string]int)
	}
	w.n[user] += k
	return true
}

// release takes k from user's count.
func (w *watchCounts) release(user string, k int) {
	if k <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.n[user] - k; n > 0 {
		w.n[user] = n
	} else {
		delete(w.n, user)
	}
}

// count returns user's count.
func (w *watchCounts) count(user string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[user]
}
