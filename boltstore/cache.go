package boltstore

import (
	"hash/maphash"
	"sync"

	"github.com/presenced/presenced/presence"
)

// stateCache holds the records read or written since the store opened, in
// their binary layout (see record.go). Reads are served from it — the file
// is the durability layer, not the serving one — so a bulk read of 1,000
// users touches no file page.
//
// It costs one encoded record per user the node has seen (84 bytes for a
// user online on one device, against about 460 for the decoded state it
// held before); unknown users are not cached. Decoding a record costs about
// 150 ns, a fifth of a bulk read's CPU when done for each of its users, so
// the states bulk reads decode are kept too, at most decodedPerShard a
// shard (2,048 in all, about 1 MB): a backend that polls the same users
// decodes each once per change of their record. Only bulk reads fill that
// set, so the memory of idle connections does not grow with it.
type stateCache struct {
	seed   maphash.Seed
	shards [64]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]string
	// decoded holds states bulk reads decoded, each with the record it was
	// decoded from: once the user's record changes, it is stale.
	decoded map[string]*decodedState
}

// decodedPerShard bounds the decoded states of a shard: a bulk read of
// 1,000 users puts 16 in each on average and rarely more than 30.
const decodedPerShard = 32

type decodedState struct {
	rec string
	st  presence.UserState // shares rec's memory; never modified
}

func newStateCache() *stateCache {
	c := &stateCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]string)
		c.shards[i].decoded = make(map[string]*decodedState)
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

// put records a write; it always wins, and the decoded state of the
// record it replaces goes.
func (c *stateCache) put(id, rec string) {
	sh := c.shard(id)
	sh.mu.Lock()
	sh.m[id] = rec
	delete(sh.decoded, id)
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

// read returns the user's state if a bulk read decoded the current record,
// else the record ("" when not cached). One lookup serves both: a bulk read
// makes a thousand.
func (c *stateCache) read(id string) (*presence.UserState, string) {
	sh := c.shard(id)
	sh.mu.RLock()
	rec := sh.m[id]
	d := sh.decoded[id]
	sh.mu.RUnlock()
	if d != nil && d.rec == rec {
		return &d.st, ""
	}
	return nil, rec
}

// decode decodes rec, the user's cached record, and keeps the state for
// later bulk reads. The state is shared: callers must not modify it.
func (c *stateCache) decode(id, rec string) (*presence.UserState, error) {
	d := &decodedState{rec: rec}
	if err := decodeCached(id, rec, &d.st); err != nil {
		return nil, err
	}
	sh := c.shard(id)
	sh.mu.Lock()
	if len(sh.decoded) >= decodedPerShard {
		for other := range sh.decoded { // any one: map order is random
			delete(sh.decoded, other)
			break
		}
	}
	sh.decoded[id] = d
	sh.mu.Unlock()
	return &d.st, nil
}
