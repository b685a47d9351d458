package presence

import (
	"slices"
	"time"
)

// RoomLeave is a room membership that a user's record still owes a leave:
// a session listed in Room ended, and no node has confirmed taking it out
// of the room yet.
//
// The record keeps these leaves (an outbox) because the membership lives
// in another store than the record: the session's end is written first,
// the room leave after it, and a node that dies in between, or a room
// store that fails the leave, would otherwise leave the session in the
// room with nothing left to say so (the ended session is gone from the
// record). Whoever ends a session performs its leaves at once; if they are
// not confirmed (ClearLeaves) they come due again (LeavesDue is part of the
// record's deadline), and any node settling the user performs them. A leave
// must therefore be idempotent: taking out a session that is no longer in
// the room changes nothing.
type RoomLeave struct {
	Room      string `json:"room"`
	SessionID string `json:"session_id"`
	// Since is when the session ended, the age LeaveHorizon counts.
	Since time.Time `json:"since,omitzero"`
}

// Limits of the owed leaves of one user.
const (
	// MaxLeaves bounds the owed leaves one record keeps; past it the oldest
	// are dropped. A user has at most MaxSessionsPerUser sessions, each in
	// up to the configured rooms per connection, so one kick may owe more:
	// the node ending them still performs them all, only a retry may miss
	// the dropped ones.
	MaxLeaves = 1000
	// LeaveHorizon is how long a leave is retried: one owed for longer (a
	// room that fails every leave, a room store down as long) is dropped,
	// so that records do not grow for ever.
	LeaveHorizon = 24 * time.Hour
	// LeaveRetry is the first delay before owed leaves that were handed out
	// are handed out again, long enough for the node performing them to
	// confirm them first. Later retries wait a tenth of the age of the
	// oldest owed leave, at most LeaveRetryMax.
	LeaveRetry    = 3 * time.Second
	LeaveRetryMax = time.Minute
)

// oweLeaves records the leaves of a session that ended. Settle stamps them.
func (s *UserState) oweLeaves(ss *Session) {
	for _, room := range ss.Rooms {
		s.Leaves = append(s.Leaves, RoomLeave{Room: room, SessionID: ss.ID})
	}
}

// stampLeaves dates the leaves owed since the last settle and makes the
// owed leaves due at once.
func (s *UserState) stampLeaves(now time.Time) {
	for i := len(s.Leaves) - 1; i >= 0 && s.Leaves[i].Since.IsZero(); i-- {
		s.Leaves[i].Since = now
		s.LeavesDue = now
	}
	if len(s.Leaves) == 0 {
		s.Leaves, s.LeavesDue = nil, time.Time{}
	}
}

// TakeLeaves hands out the owed leaves when they are due by now, and moves
// LeavesDue to their retry: the caller performs them and confirms those it
// did with ClearLeaves; if it fails or dies, they come due again. Call it
// after Settle. Leaves whose session lists the room again (a session
// written back after it ended, and rejoined) are owed no more. It returns
// what it dropped past LeaveHorizon or MaxLeaves, for the caller to log.
func (s *UserState) TakeLeaves(now time.Time, t Timing) (take, dropped []RoomLeave) {
	if len(s.Leaves) == 0 {
		return nil, nil
	}
	kept := s.Leaves[:0]
	for _, l := range s.Leaves {
		switch {
		case s.listed(l):
		case !l.Since.IsZero() && now.Sub(l.Since) > LeaveHorizon:
			dropped = append(dropped, l)
		default:
			kept = append(kept, l)
		}
	}
	if n := len(kept) - MaxLeaves; n > 0 {
		dropped = append(dropped, kept[:n]...)
		kept = kept[n:]
	}
	s.Leaves = slices.Clip(kept)
	if len(s.Leaves) == 0 {
		s.Leaves, s.LeavesDue = nil, time.Time{}
	} else if !s.LeavesDue.After(now) {
		take = slices.Clone(s.Leaves)
		s.LeavesDue = now.Add(min(max(now.Sub(s.Leaves[0].Since)/10, LeaveRetry), LeaveRetryMax))
	}
	s.Deadline = s.NextDeadline(t)
	return take, dropped
}

// listed reports whether a live session of s lists l's room again.
func (s *UserState) listed(l RoomLeave) bool {
	ss := s.Session(l.SessionID)
	return ss != nil && slices.Contains(ss.Rooms, l.Room)
}

// ClearLeaves confirms leaves that were performed: the record owes them no
// more.
func (s *UserState) ClearLeaves(done []RoomLeave) {
	if len(s.Leaves) == 0 || len(done) == 0 {
		return
	}
	type key struct{ room, session string }
	set := make(map[key]struct{}, len(done))
	for _, d := range done {
		set[key{d.Room, d.SessionID}] = struct{}{}
	}
	s.Leaves = slices.DeleteFunc(s.Leaves, func(l RoomLeave) bool {
		_, ok := set[key{l.Room, l.SessionID}]
		return ok
	})
	if len(s.Leaves) == 0 {
		s.Leaves, s.LeavesDue = nil, time.Time{}
	}
}
