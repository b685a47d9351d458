// Package privacy decides who sees whose presence. A user's Settings
// (visibility, last-seen visibility, contacts, blocks) and the server's
// Rules reduce to one presence.Level per viewer and target; the hub applies
// the level through presence.View. The package does no I/O of its own: it
// reads and writes settings through the Store interface declared here.
package privacy

import (
	"context"
	"slices"

	"github.com/presenced/presenced/presence"
)

// Visibility says who may see something of a user.
type Visibility string

// The visibilities. The zero value means the server's default.
const (
	Everyone Visibility = "everyone"
	Contacts Visibility = "contacts"
	Nobody   Visibility = "nobody"
)

// Limits on the lists a user keeps.
const (
	MaxContacts = 10000
	MaxBlocks   = 10000
)

// ParseVisibility checks a visibility given by a client; field names it in
// the error.
func ParseVisibility(field, s string) (Visibility, error) {
	switch v := Visibility(s); v {
	case Everyone, Contacts, Nobody:
		return v, nil
	}
	return "", presence.Errorf(presence.CodeInvalidArgument, "%s %q is not one of everyone, contacts, nobody", field, truncate(s, 32))
}

// Settings is what a user chose. Contacts and Blocks are sorted and free of
// duplicates. An empty visibility means the server default applies, so a
// change of --default-visibility reaches every user who never chose.
type Settings struct {
	Visibility         Visibility `json:"visibility,omitempty"`
	LastSeenVisibility Visibility `json:"last_seen_visibility,omitempty"`
	// Contacts are the users who count as this user's contacts: they see
	// the user under "contacts". The relation is one-directional.
	Contacts []string `json:"contacts,omitempty"`
	// Blocks are the users who see this user as hidden, whatever else is set.
	Blocks []string `json:"blocks,omitempty"`
}

// IsZero reports whether s holds nothing, so a store may drop it.
func (s Settings) IsZero() bool {
	return s.Visibility == "" && s.LastSeenVisibility == "" && len(s.Contacts) == 0 && len(s.Blocks) == 0
}

// Clone returns a deep copy of s.
func (s Settings) Clone() Settings {
	s.Contacts = slices.Clone(s.Contacts)
	s.Blocks = slices.Clone(s.Blocks)
	return s
}

// Store persists privacy settings. It is declared here, where it is used;
// memstore, boltstore and redisstore implement it, and storetest checks
// them all against the same contract.
type Store interface {
	// LoadSettings returns the settings of the given users; users who never
	// changed a setting are absent.
	LoadSettings(ctx context.Context, userIDs []string) (map[string]Settings, error)
	// UpdateSettings loads a user's settings (zero if none), runs fn on them
	// and saves the result atomically. When it returns without error the
	// result is durable: it survives a crash of the process. fn may run more
	// than once, so it must only touch s. A zero result may be deleted.
	UpdateSettings(ctx context.Context, userID string, fn func(s *Settings) error) (Settings, error)
	// DeleteSettings erases a user's settings durably.
	DeleteSettings(ctx context.Context, userID string) error
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
