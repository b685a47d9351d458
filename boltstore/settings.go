package boltstore

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/presenced/presenced/privacy"
)

// LoadSettings returns the stored settings of userIDs.
func (s *Store) LoadSettings(_ context.Context, userIDs []string) (map[string]privacy.Settings, error) {
	out := make(map[string]privacy.Settings, len(userIDs))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		for _, id := range userIDs {
			v := b.Get([]byte(id))
			if v == nil {
				continue
			}
			var p privacy.Settings
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("settings of %q: %w", id, err)
			}
			out[id] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	return out, nil
}

// UpdateSettings runs fn on the user's settings inside one write
// transaction; they are on disk when it returns.
func (s *Store) UpdateSettings(_ context.Context, userID string, fn func(*privacy.Settings) error) (privacy.Settings, error) {
	var out privacy.Settings
	var fnErr error
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		var p privacy.Settings
		if v := b.Get([]byte(userID)); v != nil {
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("settings of %q: %w", userID, err)
			}
		}
		if fnErr = fn(&p); fnErr != nil {
			return fnErr
		}
		out = p
		if p.IsZero() {
			return b.Delete([]byte(userID))
		}
		data, err := json.Marshal(&p)
		if err != nil {
			return err
		}
		return b.Put([]byte(userID), data)
	})
	if fnErr != nil {
		return privacy.Settings{}, fnErr
	}
	if err != nil {
		return privacy.Settings{}, fmt.Errorf("writing %s: %w", s.path, err)
	}
	return out.Clone(), nil
}

// DeleteSettings erases a user's settings durably.
func (s *Store) DeleteSettings(_ context.Context, userID string) error {
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSettings).Delete([]byte(userID)) })
	if err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	return nil
}
