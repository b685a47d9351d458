package privacy

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/presenced/presenced/presence"
)

// List names one of a user's lists.
type List string

// The lists.
const (
	ContactsList List = "contacts"
	BlocksList   List = "blocks"
)

func (l List) max() int {
	if l == BlocksList {
		return MaxBlocks
	}
	return MaxContacts
}

func (s *Settings) list(l List) *[]string {
	if l == BlocksList {
		return &s.Blocks
	}
	return &s.Contacts
}

// Op is a change to one list.
type Op int

// The list operations.
const (
	Replace Op = iota // the list becomes exactly the given ids
	Add               // the ids join the list
	Remove            // the ids leave the list
)

// Change is a change of a user's visibilities; a nil field stays as it is.
type Change struct {
	Visibility         *Visibility
	LastSeenVisibility *Visibility
}

// CheckIDs validates ids for owner's list l: each a valid user id, not the
// owner, at most the list's limit. It returns them sorted without duplicates.
func CheckIDs(owner string, l List, ids []string) ([]string, error) {
	if len(ids) > l.max() {
		return nil, presence.Errorf(presence.CodeLimitExceeded, "at most %d %s per user, got %d", l.max(), l, len(ids))
	}
	for _, id := range ids {
		if err := presence.ValidateUserID(id); err != nil {
			return nil, presence.Errorf(presence.CodeInvalidArgument, "%s: %s", l, presence.ErrorMessage(err))
		}
		if id == owner {
			if l == BlocksList {
				return nil, presence.Errorf(presence.CodeInvalidArgument, "a user cannot block themselves")
			}
			return nil, presence.Errorf(presence.CodeInvalidArgument, "a user cannot be their own contact")
		}
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// apply applies op with the checked, sorted ids to list l of s.
func (s *Settings) apply(l List, op Op, ids []string) error {
	cur := s.list(l)
	switch op {
	case Replace:
		*cur = ids
	case Add:
		merged := append(slices.Clone(*cur), ids...)
		slices.Sort(merged)
		merged = slices.Compact(merged)
		if len(merged) > l.max() {
			return presence.Errorf(presence.CodeLimitExceeded, "at most %d %s per user; this would make %d", l.max(), l, len(merged))
		}
		*cur = merged
	case Remove:
		*cur = slices.DeleteFunc(slices.Clone(*cur), func(id string) bool {
			_, found := slices.BinarySearch(ids, id)
			return found
		})
	}
	if len(*cur) == 0 {
		*cur = nil
	}
	return nil
}

// Service reads and changes users' settings. Every change is durable before
// it returns, and then reported to OnChange, which applies it to live
// subscriptions (hub.PrivacyChanged).
type Service struct {
	Store Store
	Rules Rules
	// OnChange is called after a user's settings changed. Nil: nothing is.
	OnChange func(ctx context.Context, userID string) error
	// Logger receives store failures. Nil means slog.Default().
	Logger *slog.Logger

	// unapplied holds users whose last change was saved but not applied
	// (OnChange failed): their next write applies it even if it changes
	// nothing, so a client's retry is enough.
	mu        sync.Mutex
	unapplied map[string]bool
}

// Settings returns a user's stored settings.
func (sv *Service) Settings(ctx context.Context, userID string) (Settings, error) {
	if err := presence.ValidateUserID(userID); err != nil {
		return Settings{}, err
	}
	m, err := sv.Store.LoadSettings(ctx, []string{userID})
	if err != nil {
		return Settings{}, sv.unavailable(err)
	}
	return m[userID], nil
}

// Set applies a change of visibilities.
func (sv *Service) Set(ctx context.Context, userID string, ch Change) (Settings, error) {
	return sv.update(ctx, userID, func(s *Settings) error {
		if ch.Visibility != nil {
			s.Visibility = *ch.Visibility
		}
		if ch.LastSeenVisibility != nil {
			s.LastSeenVisibility = *ch.LastSeenVisibility
		}
		return nil
	})
}

// Edit applies op with ids to userID's list l.
func (sv *Service) Edit(ctx context.Context, userID string, l List, op Op, ids []string) (Settings, error) {
	if err := presence.ValidateUserID(userID); err != nil {
		return Settings{}, err
	}
	checked, err := CheckIDs(userID, l, ids)
	if err != nil {
		return Settings{}, err
	}
	return sv.update(ctx, userID, func(s *Settings) error { return s.apply(l, op, checked) })
}

// Delete erases a user's settings.
func (sv *Service) Delete(ctx context.Context, userID string) error {
	if err := presence.ValidateUserID(userID); err != nil {
		return err
	}
	if err := sv.Store.DeleteSettings(ctx, userID); err != nil {
		return sv.unavailable(err)
	}
	return nil
}

func (sv *Service) update(ctx context.Context, userID string, fn func(s *Settings) error) (Settings, error) {
	if err := presence.ValidateUserID(userID); err != nil {
		return Settings{}, err
	}
	var changed bool
	s, err := sv.Store.UpdateSettings(ctx, userID, func(s *Settings) error {
		before := s.Clone()
		if err := fn(s); err != nil {
			return err
		}
		changed = !equal(&before, s)
		return nil
	})
	if err != nil {
		return Settings{}, sv.unavailable(err)
	}
	sv.mu.Lock()
	changed = changed || sv.unapplied[userID]
	sv.mu.Unlock()
	if changed && sv.OnChange != nil {
		err := sv.OnChange(ctx, userID)
		sv.mu.Lock()
		if err != nil {
			if sv.unapplied == nil {
				sv.unapplied = make(map[string]bool)
			}
			sv.unapplied[userID] = true
		} else {
			delete(sv.unapplied, userID)
		}
		sv.mu.Unlock()
		if err != nil {
			return Settings{}, err
		}
	}
	return s, nil
}

func equal(a, b *Settings) bool {
	return a.Visibility == b.Visibility && a.LastSeenVisibility == b.LastSeenVisibility &&
		slices.Equal(a.Contacts, b.Contacts) && slices.Equal(a.Blocks, b.Blocks)
}

// unavailable keeps client errors and turns store failures into a
// retryable code; the cause goes to the log only.
func (sv *Service) unavailable(err error) error {
	if _, ok := err.(*presence.Error); ok {
		return err
	}
	log := sv.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Error("privacy store failure", "err", err)
	return presence.Errorf(presence.CodeUnavailable, "privacy store is unavailable; retry later")
}
