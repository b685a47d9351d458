// Package memstore keeps presence state in process memory: the single-node
// default, which needs nothing installed and forgets everything on restart.
package memstore

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/presenced/presenced/deadline"
	"github.com/presenced/presenced/presence"
)

const shards = 64

// Store is an in-memory store. It is safe for concurrent use.
type Store struct {
	seed   maphash.Seed
	shards [shards]shard

	dlMu sync.Mutex
	dl   *deadline.Queue[string]

	set settings
	// Leases are the node leases of the hubs sharing the store.
	Leases
}

type shard struct {
	mu sync.Mutex
	m  map[string]*presence.UserState
}

// New returns an empty store.
func New() *Store {
	s := &Store{seed: maphash.MakeSeed(), dl: deadline.New[string]()}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*presence.UserState)
	}
	return s
}

func (s *Store) shard(id string) *shard {
	return &s.shards[maphash.String(s.seed, id)%shards]
}

// Update runs fn on a copy of the user's state and keeps the copy when fn
// succeeds. A stored state is never changed in place, so states returned
// earlier stay valid for their readers.
func (s *Store) Update(_ context.Context, userID string, fn func(st *presence.UserState) error) (presence.UserState, error) {
	sh := s.shard(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var st, before presence.UserState
	if old := sh.m[userID]; old != nil {
		st, before = Clone(old), *old
	} else {
		st.UserID = userID
	}
	if err := fn(&st); err != nil {
		return presence.UserState{}, err
	}
	sh.m[userID] = &st
	s.Index(userID, &before, &st)
	s.dlMu.Lock()
	if st.Deadline.IsZero() {
		s.dl.Remove(userID)
	} else {
		s.dl.Set(userID, st.Deadline)
	}
	s.dlMu.Unlock()
	return st, nil
}

// Load returns the states of the known users among userIDs.
func (s *Store) Load(_ context.Context, userIDs []string) (map[string]presence.UserState, error) {
	out := make(map[string]presence.UserState, len(userIDs))
	for _, id := range userIDs {
		sh := s.shard(id)
		sh.mu.Lock()
		if st := sh.m[id]; st != nil {
			out[id] = *st
		}
		sh.mu.Unlock()
	}
	return out, nil
}

// ReadStates calls fn with each user's stored state, or nil. Stored states
// are never changed in place (see Update), so fn runs without a lock.
func (s *Store) ReadStates(_ context.Context, userIDs []string, fn func(userID string, st *presence.UserState)) error {
	for _, id := range userIDs {
		sh := s.shard(id)
		sh.mu.Lock()
		st := sh.m[id]
		sh.mu.Unlock()
		fn(id, st)
	}
	return nil
}

// ClaimDue pops the users whose deadline is at or before now.
func (s *Store) ClaimDue(_ context.Context, now time.Time, max int) ([]string, error) {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	return s.dl.PopDue(now, max, nil), nil
}

// Delete forgets a user.
func (s *Store) Delete(_ context.Context, userID string) error {
	sh := s.shard(userID)
	sh.mu.Lock()
	delete(sh.m, userID)
	sh.mu.Unlock()
	s.dlMu.Lock()
	s.dl.Remove(userID)
	s.dlMu.Unlock()
	return nil
}

// Clone returns a deep copy of st.
func Clone(st *presence.UserState) presence.UserState {
	c := *st
	if st.Sessions != nil {
		c.Sessions = make([]presence.Session, len(st.Sessions))
		copy(c.Sessions, st.Sessions)
		for i := range c.Sessions {
			if r := c.Sessions[i].Rooms; r != nil {
				c.Sessions[i].Rooms = append([]string(nil), r...)
			}
		}
	}
	if st.Leaves != nil {
		c.Leaves = append([]presence.RoomLeave(nil), st.Leaves...)
	}
	return c
}
