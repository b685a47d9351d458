package hub

import (
	"context"
	"sync"
	"time"
)

// resyncer queues the topics (watched users, rooms) whose bus subscription
// was established or re-established, to be re-read by one goroutine
// (runResync): whatever was published before the subscription took effect
// (while it was in flight, or during an outage) may have been missed.
// Users are read in batches and each newer state is fanned out as an
// update, so watchers catch up by version without resubscribing; rooms,
// see resyncRooms.
type resyncer struct {
	mu      sync.Mutex
	pending map[string]struct{}
	wake    chan struct{}
}

func (r *resyncer) init() {
	r.pending = make(map[string]struct{})
	r.wake = make(chan struct{}, 1)
}

// resync schedules a re-read of a watched user. It never blocks.
func (h *Hub) resync(userID string) { h.resyncs.add(userID) }

// add schedules a re-read of id. It never blocks.
func (r *resyncer) add(id string) {
	r.mu.Lock()
	r.pending[id] = struct{}{}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *resyncer) take(max int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, min(max, len(r.pending)))
	for id := range r.pending {
		if len(out) == max {
			break
		}
		out = append(out, id)
		delete(r.pending, id)
	}
	return out
}

func (r *resyncer) putBack(ids []string) {
	r.mu.Lock()
	for _, id := range ids {
		r.pending[id] = struct{}{}
	}
	r.mu.Unlock()
}

const resyncBatch = 1000

// runResync serves r until the hub stops: it takes up to batch names at
// a time and re-reads them with read, retrying with a backoff what fails.
// what names the names in the log.
func (h *Hub) runResync(r *resyncer, batch int, what string, read func(ids []string) error) {
	defer h.done.Done()
	backoff := time.Duration(0)
	for {
		var retry <-chan time.Time
		if backoff > 0 {
			retry = time.After(backoff)
		}
		select {
		case <-h.stop:
			return
		case <-r.wake:
		case <-retry:
		}
		for {
			ids := r.take(batch)
			if len(ids) == 0 {
				backoff = 0
				break
			}
			if err := read(ids); err != nil {
				r.putBack(ids)
				if backoff == 0 {
					h.log.Warn("re-reading after a resubscription failed; retrying", what, len(ids), "err", err)
				}
				backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
				break
			}
		}
	}
}

func (h *Hub) resyncBatch(ids []string) error {
	watched := ids[:0:0]
	for _, id := range ids {
		if h.topics.get(id) != nil {
			watched = append(watched, id)
		}
	}
	if len(watched) == 0 {
		return nil
	}
	if err := h.reloadPolicy(watched); err != nil {
		return err
	}
	states, err := h.cfg.Store.Load(context.Background(), watched)
	if err != nil {
		return err
	}
	for _, id := range watched {
		if h.topics.get(id) == nil {
			continue
		}
		st := states[id]
		st.UserID = id
		p := st.Fold()
		// Re-read as a privacy change is applied: each watcher is sent
		// the state only if its view of it differs from what it holds.
		h.applyPrivacy(id, &record{p: p, hiddenV: st.HiddenV, wasInvisible: p.Invisible})
	}
	return nil
}
