package boltstore

import (
	"hash/maphash"
	"sync"

	"github.com/presenced/presenced/presence"
)

// stateCache holds the decoded user records read or written since the store
// opened. Reads are served from it — the file is the durability layer, not
// the serving one — so a bulk read of 1,000 users decodes nothing. A cached
// record is never changed in place: Update stores a fresh copy.
//
// It costs one decoded record (a few hundred bytes) per user the node has
// seen; unknown users are not cached.
type stateCache struct {
	seed   maphash.Seed
	shards [64]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*presence.UserState
}

func newStateCache() *stateCache {
	c := &stateCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*presence.UserState)
	}
	return c
}

func (c *stateCache) shard(id string) *cacheShard {
	return &c.shards[maphash.String(c.seed, id)%uint64(len(c.shards))]
}

func (c *stateCache) get(id string) *presence.UserState {
	sh := c.shard(id)
	sh.mu.RLock()
	st := sh.m[id]
	sh.mu.RUnlock()
	return st
}

// put records a write; it always wins.
func (c *stateCache) put(id string, st *presence.UserState) {
	sh := c.shard(id)
	sh.mu.Lock()
	sh.m[id] = st
	sh.mu.Unlock()
}

// fill records a record read from the file, unless a write got there
// first (the read may predate it), and returns the cached record.
func (c *stateCache) fill(id string, st *presence.UserState) *presence.UserState {
	sh := c.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if cur := sh.m[id]; cur != nil {
		return cur
	}
	sh.m[id] = st
	return st
}
