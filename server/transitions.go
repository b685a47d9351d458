package server

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/webhook"
)

// transitions watches the store writes this node makes, for webhooks: it
// derives their events from each write's state before and after. Every
// write of a deployment goes through one node's stores, so each event is
// produced once.
//
// It wraps the stores rather than the hub because the before and after it
// needs are the ones the store committed (a write may run its function
// again on a concurrent change). On a store that keeps the outbox itself
// (eventStore: the embedded database, Redis; roomEventStore: Redis's
// rooms) a change's events are committed in the same transaction or
// script as the change; elsewhere they are added to the outbox right
// after the commit, and a crash between the two loses them.
type transitions struct {
	// add queues events; nil when the stores write every event themselves
	// (Redis).
	add func(evs ...webhook.Event)
	// durable, when set, writes a user's events with the change.
	durable eventStore
	types   map[webhook.Type]bool
	now     func() time.Time

	seed         maphash.Seed
	users, rooms [lockStripes]sync.Mutex
}

// lockStripes is how many locks order the events of concurrent writes:
// writes of one user (or room) take the same lock from before the store
// call until their events are queued, so that they are queued in the
// order the store applied them.
const lockStripes = 256

func newTransitions(add func(evs ...webhook.Event), types []webhook.Type, now func() time.Time) *transitions {
	t := &transitions{add: add, types: make(map[webhook.Type]bool), now: now, seed: maphash.MakeSeed()}
	for _, ty := range types {
		t.types[ty] = true
	}
	return t
}

func (t *transitions) lock(locks *[lockStripes]sync.Mutex, key string) *sync.Mutex {
	return &locks[maphash.String(t.seed, key)%lockStripes]
}

// eventStore is a store that keeps the webhook outbox itself, so that a
// change and its events are one atomic write (boltstore.Store,
// redisstore.Store).
type eventStore interface {
	UpdateWithEvents(ctx context.Context, userID string, fn func(st *presence.UserState) ([]webhook.Event, error)) (presence.UserState, error)
}

// roomEventStore is a room store that keeps the webhook outbox itself
// (redisstore.Rooms).
type roomEventStore interface {
	UpdateRoomWithEvents(ctx context.Context, room, userID string, fn func(m *presence.RoomMember, count int) (*presence.RoomMember, error), events func(ch *presence.RoomChange) []webhook.Event) (presence.RoomChange, error)
}

func (t *transitions) emit(evs []webhook.Event) {
	if kept := t.wanted(evs); len(kept) > 0 {
		t.add(kept...)
	}
}

// wanted keeps the events of the configured types.
func (t *transitions) wanted(evs []webhook.Event) []webhook.Event {
	kept := evs[:0]
	for _, ev := range evs {
		if t.types[ev.Type] {
			kept = append(kept, ev)
		}
	}
	return kept
}

// store wraps s, keeping its optional StateReader. The hub finds a store's
// optional abilities by type assertion: one added to hub.Store's family
// must be forwarded here too, or the hub will not see it.
func (t *transitions) store(s hub.Store) hub.Store {
	w := &watchedStore{Store: s, t: t}
	r, reads := s.(hub.StateReader)
	l, leases := s.(hub.Leases)
	switch {
	case reads && leases:
		return struct {
			*watchedStore
			hub.StateReader
			hub.Leases
		}{w, r, l}
	case reads:
		return struct {
			*watchedStore
			hub.StateReader
		}{w, r}
	case leases:
		return struct {
			*watchedStore
			hub.Leases
		}{w, l}
	}
	return w
}

type watchedStore struct {
	hub.Store
	t *transitions
}

func (s *watchedStore) Update(ctx context.Context, userID string, fn func(st *presence.UserState) error) (presence.UserState, error) {
	t := s.t
	if t.durable != nil {
		// The store orders the events of one user itself: they get their
		// place in the outbox under its lock of the user.
		return t.durable.UpdateWithEvents(ctx, userID, func(st *presence.UserState) ([]webhook.Event, error) {
			before := st.Fold()
			if err := fn(st); err != nil {
				return nil, err
			}
			if after := st.Fold(); after.V != before.V {
				return t.wanted(webhook.UserEvents(&before, &after, t.now())), nil
			}
			return nil, nil
		})
	}
	mu := t.lock(&t.users, userID)
	mu.Lock()
	defer mu.Unlock()
	var before, after presence.Presence
	st, err := s.Store.Update(ctx, userID, func(st *presence.UserState) error {
		b := st.Fold()
		if err := fn(st); err != nil {
			return err
		}
		before, after = b, st.Fold()
		return nil
	})
	if err == nil && after.V != before.V {
		t.emit(webhook.UserEvents(&before, &after, t.now()))
	}
	return st, err
}

// roomStore wraps rs, keeping its optional RoomLister.
func (t *transitions) roomStore(rs hub.RoomStore) hub.RoomStore {
	if rs == nil {
		return rs
	}
	w := &watchedRooms{RoomStore: rs, t: t}
	w.durable, _ = rs.(roomEventStore)
	if l, ok := rs.(hub.RoomLister); ok {
		return struct {
			*watchedRooms
			hub.RoomLister
		}{w, l}
	}
	return w
}

type watchedRooms struct {
	hub.RoomStore
	t *transitions
	// durable, when set, writes a room's events with the change.
	durable roomEventStore
}

func (r *watchedRooms) UpdateRoom(ctx context.Context, room, userID string, fn func(m *presence.RoomMember, count int) (*presence.RoomMember, error)) (presence.RoomChange, error) {
	if r.durable != nil {
		// The store orders the events of one room itself: they are
		// appended by the script that writes the change.
		now := r.t.now()
		return r.durable.UpdateRoomWithEvents(ctx, room, userID, fn, func(ch *presence.RoomChange) []webhook.Event {
			return r.t.wanted(webhook.RoomEvents(room, ch, now))
		})
	}
	mu := r.t.lock(&r.t.rooms, room)
	mu.Lock()
	defer mu.Unlock()
	ch, err := r.RoomStore.UpdateRoom(ctx, room, userID, fn)
	if err == nil {
		r.t.emit(webhook.RoomEvents(room, &ch, r.t.now()))
	}
	return ch, err
}
