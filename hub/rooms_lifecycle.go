package hub

import (
	"context"
	"slices"

	"github.com/presenced/presenced/presence"
)

// Rooms follow the presence session lifecycle from one place: update, which
// every change of a user's state goes through, hands roomsAfterUpdate the
// sessions that were in rooms before the change. A session missing after
// it ended — set_offline, kick, TTL expiry, the end of its grace, or the
// stored expiry of a dead node's session settled by any node's reaper —
// and its rooms are left. A closed connection in its grace still has its
// session, so it stays in its rooms until the grace ends.

// roomSessions copies the sessions of st that are in rooms.
func roomSessions(st *presence.UserState) []presence.Session {
	var out []presence.Session
	for _, s := range st.Sessions {
		if len(s.Rooms) > 0 {
			out = append(out, presence.Session{ID: s.ID, Rooms: slices.Clone(s.Rooms)})
		}
	}
	return out
}

// roomsAfterUpdate leaves the rooms of the sessions in before that st no
// longer has, and carries a change of invisibility to the user's rooms.
func (h *Hub) roomsAfterUpdate(ctx context.Context, st *presence.UserState, before []presence.Session, wasInvisible bool) {
	if h.cfg.Rooms == nil {
		return
	}
	for _, s := range before {
		if st.Session(s.ID) == nil {
			h.sessionLeftRooms(ctx, st.UserID, s)
		}
	}
	if st.Invisible != wasInvisible {
		for _, room := range UserRoomsOf(st) {
			h.syncMember(ctx, room, st.UserID, st.Invisible, st.Version)
		}
	}
}

// sessionLeftRooms takes an ended session out of its rooms, and its local
// connection, if any, out of their fan-out.
func (h *Hub) sessionLeftRooms(ctx context.Context, userID string, s presence.Session) {
	if c := h.localClient(s.ID); c != nil {
		h.detachRooms(c)
	}
	for _, room := range s.Rooms {
		_ = h.leaveConn(ctx, room, userID, s.ID)
	}
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
