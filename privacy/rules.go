package privacy

import (
	"fmt"

	"github.com/presenced/presenced/presence"
)

// Rules are the server-wide privacy options.
type Rules struct {
	// DefaultVisibility applies to users who never set a visibility. Zero
	// means Contacts: privacy by default.
	DefaultVisibility Visibility
	// LastSeenReciprocity: a user who hides their last-seen from everyone
	// sees nobody's last-seen.
	LastSeenReciprocity bool
}

// Validate checks r and fills its defaults.
func (r *Rules) Validate() error {
	switch r.DefaultVisibility {
	case "":
		r.DefaultVisibility = Contacts
	case Everyone, Contacts, Nobody:
	default:
		return fmt.Errorf("--default-visibility must be everyone, contacts or nobody, not %q", r.DefaultVisibility)
	}
	return nil
}

// Effective returns the visibilities that apply to s under r.
func (r *Rules) Effective(s *Settings) (visibility, lastSeen Visibility) {
	visibility, lastSeen = s.Visibility, s.LastSeenVisibility
	if visibility == "" {
		visibility = r.DefaultVisibility
	}
	if lastSeen == "" {
		// Unset means "whoever sees my presence": the visibility still caps it.
		lastSeen = Everyone
	}
	return visibility, lastSeen
}

// Level returns how much of target's presence viewer may see, given their
// settings (nil: none stored). It is the whole privacy rule:
//
//   - a user sees all of themselves;
//   - a target who blocks the viewer is hidden from them;
//   - otherwise the target's visibility decides whether the viewer sees the
//     target at all (everyone; contacts: the viewer is in the target's
//     contacts; nobody);
//   - then the target's last-seen visibility, by the same test, decides
//     whether the viewer sees last-seen;
//   - with LastSeenReciprocity, a viewer who hides their own last-seen from
//     everyone (last-seen visibility or visibility nobody) sees no one's.
func (r *Rules) Level(viewer string, vs *Settings, target string, ts *Settings) presence.Level {
	return r.level(viewer, newEntry(vs), target, newEntry(ts))
}

// entry is the in-memory form of one user's settings: what Level needs,
// with sets for the membership tests. Entries are immutable once built.
type entry struct {
	vis, lastSeen Visibility // as stored; "" is the default
	contacts      map[string]struct{}
	blocks        map[string]struct{}
}

var emptyEntry = &entry{}

func newEntry(s *Settings) *entry {
	if s == nil || s.IsZero() {
		return emptyEntry
	}
	e := &entry{vis: s.Visibility, lastSeen: s.LastSeenVisibility}
	if len(s.Contacts) > 0 {
		e.contacts = make(map[string]struct{}, len(s.Contacts))
		for _, id := range s.Contacts {
			e.contacts[id] = struct{}{}
		}
	}
	if len(s.Blocks) > 0 {
		e.blocks = make(map[string]struct{}, len(s.Blocks))
		for _, id := range s.Blocks {
			e.blocks[id] = struct{}{}
		}
	}
	return e
}

func (e *entry) members() int { return len(e.contacts) + len(e.blocks) }

func (r *Rules) level(viewer string, v *entry, target string, t *entry) presence.Level {
	if viewer == target {
		return presence.LevelFull
	}
	if _, ok := t.blocks[viewer]; ok {
		return presence.LevelHidden
	}
	vis, ls := t.vis, t.lastSeen
	if vis == "" {
		vis = r.DefaultVisibility
	}
	if !t.allows(vis, viewer) {
		return presence.LevelHidden
	}
	if ls != "" && ls != Everyone && !t.allows(ls, viewer) {
		return presence.LevelNoLastSeen
	}
	if r.LastSeenReciprocity && r.hidesLastSeen(v) {
		return presence.LevelNoLastSeen
	}
	return presence.LevelFull
}

func (t *entry) allows(vis Visibility, viewer string) bool {
	switch vis {
	case Everyone:
		return true
	case Contacts:
		_, ok := t.contacts[viewer]
		return ok
	}
	return false
}

// hidesLastSeen reports whether the user of v shows their last-seen to no one.
func (r *Rules) hidesLastSeen(v *entry) bool {
	vis := v.vis
	if vis == "" {
		vis = r.DefaultVisibility
	}
	return vis == Nobody || v.lastSeen == Nobody
}
