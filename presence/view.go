package presence

// Level is how much of a user's presence a viewer may see. The privacy rules
// (visibility, contacts, blocks, last-seen settings) reduce to one Level per
// viewer and target, and View is the one place a Level is applied.
type Level uint8

// The levels, from most to least.
const (
	// LevelFull shows everything.
	LevelFull Level = iota
	// LevelNoLastSeen shows everything but last-seen.
	LevelNoLastSeen
	// LevelHidden shows the user as offline with nothing set.
	LevelHidden
)

// View returns what a viewer at level lvl sees of the real presence p, whose
// owner is hidden from others at version hiddenV. An invisible user is hidden
// whatever the level; the user's own view comes from Self.
func View(p Presence, hiddenV uint64, lvl Level) Presence {
	if p.Invisible || lvl == LevelHidden {
		return Hidden(p.UserID, hiddenV)
	}
	if lvl == LevelNoLastSeen {
		p = p.WithoutLastSeen()
	}
	return p
}
