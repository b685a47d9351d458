package memstore

import (
	"context"
	"sync"

	"github.com/presenced/presenced/privacy"
)

// settings is the in-memory privacy settings store.
type settings struct {
	mu sync.Mutex
	m  map[string]privacy.Settings
}

// LoadSettings returns the stored settings of userIDs.
func (s *Store) LoadSettings(_ context.Context, userIDs []string) (map[string]privacy.Settings, error) {
	s.set.mu.Lock()
	defer s.set.mu.Unlock()
	out := make(map[string]privacy.Settings, len(userIDs))
	for _, id := range userIDs {
		if v, ok := s.set.m[id]; ok {
			out[id] = v.Clone()
		}
	}
	return out, nil
}

// UpdateSettings runs fn on a copy of the user's settings and keeps it when
// fn succeeds.
func (s *Store) UpdateSettings(_ context.Context, userID string, fn func(*privacy.Settings) error) (privacy.Settings, error) {
	s.set.mu.Lock()
	defer s.set.mu.Unlock()
	v := s.set.m[userID].Clone()
	if err := fn(&v); err != nil {
		return privacy.Settings{}, err
	}
	if v.IsZero() {
		delete(s.set.m, userID)
	} else {
		if s.set.m == nil {
			s.set.m = make(map[string]privacy.Settings)
		}
		s.set.m[userID] = v.Clone()
	}
	return v, nil
}

// DeleteSettings forgets a user's settings.
func (s *Store) DeleteSettings(_ context.Context, userID string) error {
	s.set.mu.Lock()
	delete(s.set.m, userID)
	s.set.mu.Unlock()
	return nil
}
