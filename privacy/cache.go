package privacy

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/presence"
)

// CacheConfig configures a Cache. Zero values mean the documented defaults.
type CacheConfig struct {
	Store Store
	Rules Rules
	// MaxUsers bounds the users whose settings are kept while not in use.
	// Zero means 100,000.
	MaxUsers int
	// MaxMembers bounds the contacts and blocks kept, summed over users not
	// in use. Zero means 2,000,000 (about 100 MB).
	MaxMembers int
	// LoadTimeout bounds the store read of a miss in Level. Zero means 2s.
	LoadTimeout time.Duration
	Logger      *slog.Logger
}

// Cache keeps users' settings in memory and answers Level from them; it is
// the hub's Policy. It loads a user's settings on first need (Prepare loads
// many in one store read before a subscribe or bulk read; a miss in Level
// loads one) and keeps them while the user is in use on this node: watched
// by a subscriber or connected. Past the bounds, users not in use are
// evicted. Its methods are safe for concurrent use.
//
// A lookup costs a shard read-lock and two or three map lookups; a fan-out
// to n watchers does n lookups and no store read. Memory is about 25 bytes
// and the id per cached user without settings (they share one entry), and
// about 40 bytes and the id per contact or block.
type Cache struct {
	store   Store
	rules   Rules
	log     *slog.Logger
	timeout time.Duration
	max     struct{ users, members int64 }

	seed   maphash.Seed
	shards [cacheShards]cacheShard
	users  atomic.Int64
	memb   atomic.Int64
	inUse  atomic.Pointer[func(string) bool]
	loads  atomic.Int64

	evictMu    sync.Mutex
	evictFloor int64 // size at which a pass found nothing to evict
	evictNext  int
}

const cacheShards = 64

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*entry
}

// NewCache returns an empty cache.
func NewCache(cfg CacheConfig) (*Cache, error) {
	if err := cfg.Rules.Validate(); err != nil {
		return nil, err
	}
	c := &Cache{store: cfg.Store, rules: cfg.Rules, log: cfg.Logger, timeout: cfg.LoadTimeout, seed: maphash.MakeSeed()}
	c.max.users, c.max.members = int64(cfg.MaxUsers), int64(cfg.MaxMembers)
	if c.max.users == 0 {
		c.max.users = 100000
	}
	if c.max.members == 0 {
		c.max.members = 2000000
	}
	if c.timeout == 0 {
		c.timeout = 2 * time.Second
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*entry)
	}
	return c, nil
}

// Rules returns the rules the cache applies.
func (c *Cache) Rules() Rules { return c.rules }

// SetInUse tells the cache how to ask whether a user is in use on this node
// (watched or connected); such users are never evicted.
func (c *Cache) SetInUse(inUse func(userID string) bool) { c.inUse.Store(&inUse) }

// Loads returns how many users' settings were read from the store.
func (c *Cache) Loads() int64 { return c.loads.Load() }

// Len returns the number of cached users.
func (c *Cache) Len() int { return int(c.users.Load()) }

// Level returns how much of target's presence viewer may see. It answers
// from memory; a user not cached is loaded first, and when the store
// cannot be read the target is hidden: failures never reveal.
func (c *Cache) Level(viewer, target string) presence.Level {
	if viewer == target {
		return presence.LevelFull
	}
	return c.decide(viewer, target, c.get(target), c.get)
}

// Blocking reports whether target blocks anyone. Like Level it answers
// from memory, loading a user not cached; an unreadable user blocks no one
// (Level hides them anyway).
func (c *Cache) Blocking(target string) bool {
	t := c.get(target)
	return t != nil && len(t.blocks) > 0
}

// Blocks reports whether target blocks viewer.
func (c *Cache) Blocks(target, viewer string) bool {
	t := c.get(target)
	if t == nil {
		return false
	}
	_, ok := t.blocks[viewer]
	return ok
}

// LevelsFor returns Level with target fixed, looked up once: the form a
// fan-out uses, paying per viewer only for the viewer's part of the rule.
func (c *Cache) LevelsFor(target string) func(viewer string) presence.Level {
	t, get := c.get(target), c.get
	return func(viewer string) presence.Level {
		if viewer == target {
			return presence.LevelFull
		}
		return c.decide(viewer, target, t, get)
	}
}

// decide applies the rule to the target's entry t (nil: unreadable) and
// the viewer's, which it looks up with get only when reciprocity needs it.
func (c *Cache) decide(viewer, target string, t *entry, get func(string) *entry) presence.Level {
	if t == nil {
		return presence.LevelHidden
	}
	v := emptyEntry
	if c.rules.LastSeenReciprocity {
		if v = get(viewer); v == nil {
			return presence.LevelNoLastSeen
		}
	}
	return c.rules.level(viewer, v, target, t)
}

// Prepare loads the settings of the given users that are not cached, in
// one store read.
func (c *Cache) Prepare(ctx context.Context, userIDs []string) error {
	var missing []string
	for _, id := range userIDs {
		if c.lookup(id) == nil {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	m, err := c.store.LoadSettings(ctx, missing)
	if err != nil {
		return err
	}
	c.loads.Add(int64(len(missing)))
	for _, id := range missing {
		s := m[id]
		c.put(id, newEntry(&s), false)
	}
	c.maybeEvict()
	return nil
}

// Refresh reloads a user's settings after they changed.
func (c *Cache) Refresh(ctx context.Context, userID string) error {
	m, err := c.store.LoadSettings(ctx, []string{userID})
	if err != nil {
		c.drop(userID)
		return err
	}
	c.loads.Add(1)
	s := m[userID]
	c.put(userID, newEntry(&s), true)
	return nil
}

// Forget drops a user's settings, so that the next need reloads them from
// the store: another node changed them.
func (c *Cache) Forget(userID string) { c.drop(userID) }

func (c *Cache) shard(id string) *cacheShard {
	return &c.shards[maphash.String(c.seed, id)%cacheShards]
}

func (c *Cache) lookup(id string) *entry {
	s := c.shard(id)
	s.mu.RLock()
	e := s.m[id]
	s.mu.RUnlock()
	return e
}

// get returns id's entry, loading it on a miss; nil when the store failed.
// A miss is rare: Prepare loads every user a subscription or read needs,
// and users in use are never evicted.
func (c *Cache) get(id string) *entry {
	if e := c.lookup(id); e != nil {
		return e
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	m, err := c.store.LoadSettings(ctx, []string{id})
	if err != nil {
		c.log.Error("privacy settings unreadable; hiding the user until they load", "user", id, "err", err)
		return nil
	}
	c.loads.Add(1)
	s := m[id]
	// No eviction here: Level runs under the hub's locks, and eviction asks
	// the hub which users are in use. The next Prepare evicts.
	return c.put(id, newEntry(&s), false)
}

// put stores e for id. A concurrent load does not overwrite a newer entry
// unless replace (a refresh) says so. It returns the entry kept.
func (c *Cache) put(id string, e *entry, replace bool) *entry {
	s := c.shard(id)
	s.mu.Lock()
	old := s.m[id]
	if old != nil && !replace {
		s.mu.Unlock()
		return old
	}
	s.m[id] = e
	s.mu.Unlock()
	if old == nil {
		c.users.Add(1)
	} else {
		c.memb.Add(-int64(old.members()))
	}
	c.memb.Add(int64(e.members()))
	return e
}

func (c *Cache) drop(id string) {
	s := c.shard(id)
	s.mu.Lock()
	old := s.m[id]
	delete(s.m, id)
	s.mu.Unlock()
	if old != nil {
		c.users.Add(-1)
		c.memb.Add(-int64(old.members()))
	}
}

func (c *Cache) over() bool {
	return c.users.Load() > c.max.users || c.memb.Load() > c.max.members
}

// maybeEvict removes users not in use until the cache is within 90% of its
// bounds. Users in use are kept whatever the bounds: their number is bounded
// by the node's subscriptions and connections. A pass that frees nothing is
// not repeated until the cache has grown by a tenth.
func (c *Cache) maybeEvict() {
	if !c.over() || !c.evictMu.TryLock() {
		return
	}
	defer c.evictMu.Unlock()
	size := c.users.Load() + c.memb.Load()
	if c.evictFloor != 0 && size < c.evictFloor+c.evictFloor/10 {
		return
	}
	var inUse func(string) bool
	if p := c.inUse.Load(); p != nil {
		inUse = *p
	}
	targetUsers, targetMembers := c.max.users*9/10, c.max.members*9/10
	freed := false
	for range cacheShards {
		if c.users.Load() <= targetUsers && c.memb.Load() <= targetMembers {
			break
		}
		s := &c.shards[c.evictNext]
		c.evictNext = (c.evictNext + 1) % cacheShards
		// The in-use test calls into the hub, so no cache lock is held
		// during it: the hub calls Level under its own locks.
		s.mu.RLock()
		ids := make([]string, 0, len(s.m))
		for id := range s.m {
			ids = append(ids, id)
		}
		s.mu.RUnlock()
		for _, id := range ids {
			if inUse != nil && inUse(id) {
				continue
			}
			c.drop(id)
			freed = true
		}
	}
	if freed {
		c.evictFloor = 0
	} else {
		c.evictFloor = size
	}
}
