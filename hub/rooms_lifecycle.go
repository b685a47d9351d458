package hub

import (
	"context"
	"slices"
	"time"

	"github.com/presenced/presenced/presence"
)

// Rooms follow the presence session lifecycle from one place: update,
// which every change of a user's state goes through. A session that ends —
// set_offline, kick, TTL expiry, the end of its grace, or the stored
// expiry of a dead node's session settled by any node's reaper — leaves
// its rooms. A closed connection in its grace still has its session, so it
// stays in its rooms until the grace ends.
//
// The leaves are durable. The state machine records them in the user's
// record (presence.RoomLeave) in the very write that ends the session,
// due at once; update hands out the owed leaves that are due
// (presence.UserState.TakeLeaves), performs them, then confirms them with
// one more write. A leave that failed (the room store unavailable) or
// whose node died before it comes due again with the record's deadline,
// and whichever node settles the user then performs it. A leave is
// idempotent: a session already out of the room changes nothing. A retry
// that finds nothing to do publishes a restate (kindRestate), which nodes
// turn into only what their members miss: a leave performed twice is
// announced once, and one performed but never announced (its node died or
// lost the store's reply) is announced then.
//
// The confirmation is its own write, not folded into the user's next one:
// a session's end is mostly the last write of a user for a while (an
// offline user), so folding would wait for the retry, which costs more.

// roomsAfterUpdate performs the room leaves update handed out with st —
// those owed, and those of sessions that ended at now but did not fit the
// record's bound (dropped at once, performed once) — and carries a change
// of invisibility to the user's rooms.
func (h *Hub) roomsAfterUpdate(ctx context.Context, st *presence.UserState, owed, dropped []presence.RoomLeave, now time.Time, wasInvisible bool) {
	if h.cfg.Rooms == nil {
		return
	}
	leaves := owed
	for _, l := range dropped {
		if l.Since.Equal(now) {
			leaves = append(leaves, l)
		}
	}
	h.leaveRooms(ctx, st, leaves, now)
	if st.Invisible != wasInvisible {
		for _, room := range UserRoomsOf(st) {
			h.syncMember(ctx, room, st.UserID, st.Invisible, st.Version)
		}
	}
}

// leaveRooms takes ended sessions out of rooms, and their local
// connections, if any, out of the rooms' fan-out; then it confirms in the
// user's record the owed leaves it performed. A leave that fails stays
// owed, for a retry. A leave owed since before now is a retry: an earlier
// attempt may have done it unannounced.
func (h *Hub) leaveRooms(ctx context.Context, st *presence.UserState, leaves []presence.RoomLeave, now time.Time) {
	if len(leaves) == 0 {
		return
	}
	type key struct{ room, session string }
	left := make(map[key]bool, len(leaves)) // tried: whether it succeeded
	var done []presence.RoomLeave
	for _, l := range leaves {
		k := key{l.Room, l.SessionID}
		if _, tried := left[k]; tried {
			continue
		}
		if st.Session(l.SessionID) == nil {
			if c := h.localClient(l.SessionID); c != nil {
				h.detachRooms(c)
			}
		}
		ok := h.leaveConnAgain(ctx, l.Room, st.UserID, l.SessionID, l.Since.Before(now)) == nil
		left[k] = ok
		if ok {
			done = append(done, l)
		}
	}
	owes := slices.ContainsFunc(st.Leaves, func(l presence.RoomLeave) bool { return left[key{l.Room, l.SessionID}] })
	if !owes {
		return
	}
	if _, err := h.update(ctx, st.UserID, func(st *presence.UserState) error {
		st.ClearLeaves(done)
		return nil
	}); err != nil {
		h.log.Warn("could not confirm room leaves; they are performed again at their retry", "user", st.UserID, "err", err)
	}
}

// droppedLeaves logs owed room leaves the record gave up on (see
// presence.LeaveHorizon and presence.MaxLeaves): their sessions may stay
// in those rooms.
func (h *Hub) droppedLeaves(userID string, dropped []presence.RoomLeave) {
	if len(dropped) == 0 {
		return
	}
	h.log.Warn("dropped owed room leaves: too old or too many; their sessions may stay in those rooms",
		"user", userID, "count", len(dropped), "room", dropped[0].Room, "session", dropped[0].SessionID, "since", dropped[0].Since)
}

// UserRoomsOf returns the rooms of st's sessions, sorted, each once.
func UserRoomsOf(st *presence.UserState) []string {
	var rooms []string
	for _, s := range st.Sessions {
		rooms = append(rooms, s.Rooms...)
	}
	slices.Sort(rooms)
	return slices.Compact(rooms)
}
