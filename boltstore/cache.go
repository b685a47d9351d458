package boltstore

import (
	"hash/maphash"
	"sync"
)

// stateCache holds the records read or written since the store opened, in
// their binary layout (see record.go). Reads are served from it — the file
// is the durability layer, not the serving one — so a bulk read of 1,000
// users touches no file page.
//
// It costs one encoded record per user the node has seen (about 100 bytes
// for a user with one session, against 460 for the decoded state it held
// before), and a decoding per read (see BenchmarkReadStates); unknown users
// are not cached.
type stateCache struct {
	seed   maphash.Seed
	shards [64]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]string
}

func newStateCache() *stateCache {
	c := &stateCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]string)
	}
	return c
}

func (c *stateCache) shard(id string) *cacheShard {
	return &c.shards[maphash.String(c.seed, id)%uint64(len(c.shards))]
}

// get returns the user's record, "" when not cached (records are never
// empty).
func (c *stateCache) get(id string) string {
	sh := c.shard(id)
	sh.mu.RLock()
	rec := sh.m[id]
	sh.mu.RUnlock()
	return rec
}

// put records a write; it always wins.
func (c *stateCache) put(id, rec string) {
	sh := c.shard(id)
	sh.mu.Lock()
	sh.m[id] = rec
	sh.mu.Unlock()
}

// fill records a record read from the file, unless a write got there
// first (the read may predate it), and returns the cached record.
func (c *stateCache) fill(id, rec string) string {
	sh := c.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if cur := sh.m[id]; cur != "" {
		return cur
	}
	sh.m[id] = rec
	return rec
}
