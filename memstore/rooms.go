package memstore

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/presenced/presenced/presence"
)

// Rooms is an in-memory room store (hub.RoomStore). It is safe for
// concurrent use. Records are never changed in place, so members returned
// by a read stay valid for their reader.
type Rooms struct {
	seed   maphash.Seed
	shards [shards]roomShard
	// floor is the highest version any emptied room reached: a room created
	// later starts above it, so versions are never reused.
	floor atomic.Uint64
}

type roomShard struct {
	mu sync.Mutex
	m  map[string]*room
}

type room struct {
	members map[string]*presence.RoomMember
	order   []string // user ids, sorted, for paging
	visible int
	v       uint64
}

// StartAbove makes every room created from now on start its versions
// above v. A process that keeps rooms in memory passes its start time in
// milliseconds, so that a room of the same name after a restart goes on
// above every version the previous run handed out (unless that run
// averaged more than a thousand changes a second), as a client that kept
// one expects.
func (r *Rooms) StartAbove(v uint64) {
	for {
		f := r.floor.Load()
		if f >= v || r.floor.CompareAndSwap(f, v) {
			return
		}
	}
}

// NewRooms returns an empty room store.
func NewRooms() *Rooms {
	r := &Rooms{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].m = make(map[string]*room)
	}
	return r
}

func (r *Rooms) shard(name string) *roomShard {
	return &r.shards[maphash.String(r.seed, name)%shards]
}

// UpdateRoom runs fn on a copy of userID's member record in room and saves
// the result; see hub.RoomStore.
func (r *Rooms) UpdateRoom(_ context.Context, name, userID string, fn func(m *presence.RoomMember, count int) (*presence.RoomMember, error)) (presence.RoomChange, error) {
	sh := r.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rm := sh.m[name]
	var old *presence.RoomMember
	count := 0
	if rm != nil {
		old, count = rm.members[userID], len(rm.members)
	}
	m, err := fn(old.Clone(), count)
	if err != nil {
		return presence.RoomChange{}, err
	}
	m = m.Stored(userID)
	if old.Equal(m) {
		ch := presence.RoomChange{Before: old, After: old}
		if rm != nil {
			ch.Count, ch.Visible, ch.V = len(rm.members), rm.visible, rm.v
		}
		return ch, nil
	}
	if rm == nil {
		rm = &room{members: make(map[string]*presence.RoomMember), v: r.floor.Load()}
		sh.m[name] = rm
	}
	rm.v++
	if m != nil {
		m.V = rm.v
	}
	if old != nil && !old.Invisible {
		rm.visible--
	}
	if m != nil && !m.Invisible {
		rm.visible++
	}
	switch {
	case old == nil:
		rm.members[userID] = m
		i, _ := slices.BinarySearch(rm.order, userID)
		rm.order = slices.Insert(rm.order, i, userID)
	case m == nil:
		delete(rm.members, userID)
		if i, ok := slices.BinarySearch(rm.order, userID); ok {
			rm.order = slices.Delete(rm.order, i, i+1)
		}
	default:
		rm.members[userID] = m
	}
	ch := presence.RoomChange{Before: old, After: m, Changed: true, Count: len(rm.members), Visible: rm.visible, V: rm.v}
	if len(rm.members) == 0 {
		delete(sh.m, name)
		for {
			f := r.floor.Load()
			if f >= rm.v || r.floor.CompareAndSwap(f, rm.v) {
				break
			}
		}
	}
	return ch, nil
}

// RoomMembers returns up to limit members after the user id after.
func (r *Rooms) RoomMembers(_ context.Context, name, after string, limit int) (presence.RoomPage, error) {
	sh := r.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rm := sh.m[name]
	if rm == nil {
		return presence.RoomPage{}, nil
	}
	page := presence.RoomPage{Count: len(rm.members), Visible: rm.visible, V: rm.v}
	i := 0
	if after != "" {
		var found bool
		i, found = slices.BinarySearch(rm.order, after)
		if found {
			i++
		}
	}
	end := min(i+limit, len(rm.order))
	if end <= i {
		return page, nil
	}
	page.Members = make([]*presence.RoomMember, 0, end-i)
	for _, id := range rm.order[i:end] {
		page.Members = append(page.Members, rm.members[id])
	}
	if end < len(rm.order) {
		page.Next = rm.order[end-1]
	}
	return page, nil
}
