package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// republisher retries user-channel publishes that failed. Watchers order
// updates by version and drop older ones, so a late delivery is harmless,
// and only the latest payload per channel is worth sending. Without it, a
// publish lost while the watchers' own subscriptions stayed up (a reset
// connection on the publisher's side) would leave them stale until the
// user's next change.
type republisher struct {
	bus     *Bus
	mu      sync.Mutex
	pending map[string]pendingPublish // channel → latest failed payload
	seq     uint64
	count   atomic.Int64 // len(pending), read without the lock
	wake    chan struct{}
	started bool
}

type pendingPublish struct {
	payload []byte
	seq     uint64    // tells a replaced entry from the one sent
	since   time.Time // first failure of this channel's pending publish
}

// Bounds of the retry queue: beyond them a failure is reported instead.
const (
	maxPendingPublishes = 10000
	republishFor        = 30 * time.Second
)

// add queues payload for channel, replacing an older one; false when the
// queue is full.
func (r *republisher) add(channel string, payload []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.pending[channel]
	if !ok && len(r.pending) >= maxPendingPublishes {
		return false
	}
	since := time.Now()
	if ok {
		since = old.since
	}
	r.seq++
	r.pending[channel] = pendingPublish{payload: payload, seq: r.seq, since: since}
	r.count.Store(int64(len(r.pending)))
	if !r.started {
		r.started = true
		b := r.bus.b
		b.done.Add(1)
		go r.run()
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

// sent forgets a pending payload of channel: a newer one just went out.
func (r *republisher) sent(channel string) {
	if r.count.Load() == 0 {
		return
	}
	r.mu.Lock()
	delete(r.pending, channel)
	r.count.Store(int64(len(r.pending)))
	r.mu.Unlock()
}

func (r *republisher) run() {
	b := r.bus.b
	defer b.done.Done()
	backoff := minBackoff
	for {
		select {
		case <-b.stop:
			return
		case <-r.wake:
		case <-time.After(backoff):
		}
		r.mu.Lock()
		batch := make(map[string]pendingPublish, len(r.pending))
		for ch, p := range r.pending {
			batch[ch] = p
		}
		r.mu.Unlock()
		if len(batch) == 0 {
			backoff = minBackoff
			continue
		}
		channels := make([]string, 0, len(batch))
		cmds := make(rueidis.Commands, 0, len(batch))
		for ch, p := range batch {
			channels = append(channels, ch)
			cmds = append(cmds, b.client.B().Spublish().Channel(ch).Message(rueidis.BinaryString(p.payload)).Build())
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.OpTimeout)
		res := b.client.DoMulti(ctx, cmds...)
		cancel()
		failed, dropped := 0, 0
		r.mu.Lock()
		for i, ch := range channels {
			cur, ok := r.pending[ch]
			if !ok || cur.seq != batch[ch].seq {
				continue // replaced meanwhile: the newer one is pending
			}
			switch {
			case res[i].Error() == nil:
				delete(r.pending, ch)
			case time.Since(cur.since) > republishFor:
				delete(r.pending, ch)
				dropped++
			default:
				failed++
			}
		}
		r.count.Store(int64(len(r.pending)))
		r.mu.Unlock()
		if dropped > 0 {
			b.log.Warn("gave up republishing updates; their watchers catch up at the next change", "channels", dropped)
		}
		if failed > 0 {
			backoff = min(2*backoff, maxBackoff)
		} else {
			backoff = minBackoff
		}
	}
}
