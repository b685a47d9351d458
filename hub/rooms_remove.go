package hub

import (
	"context"
	"errors"
	"slices"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// kindRemoved, on a room's topic, tells every node to take the user's
// connections out of the room: a backend removed the member.
const kindRemoved = "x"

// errNotMember stops a removal's store update when there is nothing to do.
var errNotMember = errors.New("not a member")

// RemoveRoomMember takes every connection of userID out of room, on every
// node: the user's sessions stop listing the room, the member record goes
// (the others see room_leave or the summary), and each of the user's
// connections is sent room_removed. It fails with not_found when the user
// is not a member.
//
// The member record goes before the sessions stop listing the room: if
// the second step fails (503), the sessions still list a room they are not
// in, which their end finds nothing to do about; the other order could
// leave a member record that no session end would remove.
//
// A connection joining the room at the same moment may stay in it: the
// removal applies to the membership it finds. A node that misses the
// removal on the room's channel (a Redis outage at that moment) leaves its
// connections of the user attached to the room locally until they leave
// or close; the membership itself is gone for everyone.
func (h *Hub) RemoveRoomMember(ctx context.Context, room, userID string) error {
	rs, err := h.roomStore()
	if err != nil {
		return err
	}
	if err := presence.ValidateRoom(room); err != nil {
		return err
	}
	if err := presence.ValidateUserID(userID); err != nil {
		return err
	}
	ch, err := rs.UpdateRoom(ctx, room, userID, func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) {
		if m == nil {
			return nil, errNotMember
		}
		return nil, nil
	})
	if errors.Is(err, errNotMember) {
		return presence.Errorf(presence.CodeNotFound, "user %s is not a member of room %s", userID, room)
	}
	if err != nil {
		return h.unavailable(err)
	}
	// The connections go first, so that the removed user is told
	// room_removed rather than a room_leave of themselves.
	h.publishRoomEvent(ctx, room, &roomEvent{Kind: kindRemoved, User: userID})
	h.publishRoom(ctx, room, &ch)
	_, err = h.update(ctx, userID, func(st *presence.UserState) error {
		for i := range st.Sessions {
			ss := &st.Sessions[i]
			if j := slices.Index(ss.Rooms, room); j >= 0 {
				ss.Rooms = slices.Delete(ss.Rooms, j, j+1)
			}
		}
		return nil
	})
	return err
}

// removedHere takes this node's connections of user out of room and tells
// each with room_removed.
func (h *Hub) removedHere(room, user string) {
	var frame []byte
	for _, c := range h.localClients(user) {
		sub := c.takeRoom(room)
		if sub == nil {
			continue
		}
		h.detachRoom(c, sub)
		if frame == nil {
			frame = append(append([]byte(`{"type":"`+protocol.TypeRoomRemoved+`","room":`), presence.AppendString(nil, room)...), '}')
		}
		c.Send(frame)
	}
}
