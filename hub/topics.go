package hub

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/presenced/presenced/presence"
)

// topic is a user this node has local watchers for. latest is the newest
// presence the node knows, so later watchers get their snapshot without a
// store read and stale or repeated bus messages are dropped.
type topic struct {
	name   string // the user id
	subs   smallMap[*Client, struct{}]
	latest atomic.Pointer[record]
	// fanned is the newest version whose fan-out to the local watchers
	// has finished (see Applied).
	fanned atomic.Uint64
}

// record is one version of a user's presence as published on the bus.
type record struct {
	p            presence.Presence // the real presence, as the user sees it
	hiddenV      uint64
	wasInvisible bool
}

const topicShards = 64

type topicShard struct {
	mu sync.RWMutex
	m  map[string]*topic
}

// topicIndex maps watched user ids to their topics, sharded so that
// subscriptions and fan-outs of different users do not contend.
type topicIndex struct {
	seed   maphash.Seed
	shards [topicShards]topicShard
	count  atomic.Int64
}

func (ix *topicIndex) init() {
	ix.seed = maphash.MakeSeed()
	for i := range ix.shards {
		ix.shards[i].m = make(map[string]*topic)
	}
}

func (ix *topicIndex) shard(name string) *topicShard {
	return &ix.shards[maphash.String(ix.seed, name)%topicShards]
}

// get returns the topic of name if this node watches it.
func (ix *topicIndex) get(name string) *topic {
	s := ix.shard(name)
	s.mu.RLock()
	t := s.m[name]
	s.mu.RUnlock()
	return t
}

// eachWatcher calls fn for each local watcher of t. The watchers are copied
// under the shard's read lock and fn runs without it: a fan-out may wait
// (a viewer's privacy settings missing from the cache are read from the
// store; a writer's queue may be full), and a wait under the lock would
// hold up every subscribe and unsubscribe of the shard's users, and every
// fan-out waiting for the write lock behind them. A watcher that leaves
// after the copy is skipped by the caller's check of c.subs; one that
// arrives after it reads t.latest, which the caller advanced first.
func (ix *topicIndex) eachWatcher(t *topic, fn func(c *Client)) {
	s := ix.shard(t.name)
	buf := watcherBufs.Get().(*[]*Client)
	s.mu.RLock()
	for c := range t.subs.All() {
		*buf = append(*buf, c)
	}
	s.mu.RUnlock()
	for _, c := range *buf {
		fn(c)
	}
	if cap(*buf) > maxPooledWatchers {
		return // a rare huge topic: let the collector have it
	}
	clear(*buf)
	*buf = (*buf)[:0]
	watcherBufs.Put(buf)
}

const maxPooledWatchers = 1 << 16

// watcherBufs recycles eachWatcher's copies: a fan-out to many watchers
// would otherwise allocate a slice of them per update.
var watcherBufs = sync.Pool{New: func() any { return new([]*Client) }}

// watch adds c as a watcher of name, marking its snapshot pending, and
// reports whether c did not watch it before (the caller reserved that
// subscription in h.watching). A subscription c already has is left as it
// is and keeps delivering while the request runs: the snapshot it gets
// again is at least as new as any update queued before it.
func (h *Hub) watch(c *Client, name string) (*topic, bool, error) {
	s := h.topics.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.m[name]
	if t == nil {
		t = &topic{name: name}
		if err := h.cfg.Bus.Subscribe(busTopic(name), func(payload []byte) { h.receive(name, payload) }); err != nil {
			return nil, false, err
		}
		s.m[name] = t
		h.topics.count.Add(1)
		h.m.Add(h.m.Subscribed, 1)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		h.dropIfUnwatchedLocked(s, t)
		return nil, false, errClosed
	}
	if _, had := c.subs.Get(t); had {
		c.mu.Unlock()
		return t, false, nil
	}
	c.subs.Set(t, awaitingSnapshot)
	c.mu.Unlock()
	t.subs.Set(c, struct{}{})
	return t, true, nil
}

// unwatch removes c from t. The client's own entry is removed by the caller.
func (h *Hub) unwatch(c *Client, t *topic) {
	s := h.topics.shard(t.name)
	s.mu.Lock()
	t.subs.Delete(c)
	h.dropIfUnwatchedLocked(s, t)
	s.mu.Unlock()
}

func (h *Hub) dropIfUnwatchedLocked(s *topicShard, t *topic) {
	if t.subs.Len() > 0 || s.m[t.name] != t {
		return
	}
	delete(s.m, t.name)
	h.topics.count.Add(-1)
	h.m.Add(h.m.Subscribed, -1)
	if err := h.cfg.Bus.Unsubscribe(busTopic(t.name)); err != nil {
		h.log.Warn("bus unsubscribe failed", "topic", t.name, "err", err)
	}
}

// advance makes rec the topic's latest record unless a newer one is there,
// and reports whether it did.
func (t *topic) advance(rec *record) bool {
	for {
		old := t.latest.Load()
		if old != nil && old.p.V >= rec.p.V {
			return false
		}
		if t.latest.CompareAndSwap(old, rec) {
			return true
		}
	}
}

// Applied returns the newest version of userID's presence whose fan-out
// to this node's watchers is done (every frame it caused is queued); ok is
// false when no local connection watches the user. Every node writes a
// change to the store before publishing it, so once Applied reaches the
// stored version, nothing about the user up to it is still on its way:
// a frame queued later on a connection follows all of it.
func (h *Hub) Applied(userID string) (v uint64, ok bool) {
	t := h.topics.get(userID)
	if t == nil {
		return 0, false
	}
	return t.fanned.Load(), true
}

// noteFanned records that the fan-out of version v is done.
func (t *topic) noteFanned(v uint64) {
	for {
		old := t.fanned.Load()
		if old >= v || t.fanned.CompareAndSwap(old, v) {
			return
		}
	}
}

// WatchedTopics returns how many users this node has local watchers for.
func (h *Hub) WatchedTopics() int { return int(h.topics.count.Load()) }
