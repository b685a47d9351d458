package hub

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/presenced/presenced/presence"
)

// DefaultRoomPage is the page size of room_members when no limit is given.
const DefaultRoomPage = 100

// RoomMembersFor reads a page of room's members for connection c and
// queues it as a room_members reply carrying reqID. Only members may read
// a room: any connection of a user in the room.
func (h *Hub) RoomMembersFor(ctx context.Context, c *Client, room, after string, limit int, reqID json.RawMessage) error {
	if !c.InRoom(room) {
		if err := h.mayReadRoom(ctx, c.UserID, room); err != nil {
			return err
		}
	}
	page, err := h.roomPage(ctx, room, after, limit)
	if err != nil {
		return err
	}
	blocked, ok := h.connBlockers(c, room)
	if !ok {
		if blocked, err = h.roomBlockers(ctx, c.UserID, room, after, &page); err != nil {
			return err
		}
	}
	h.shown(c, room, &page)
	c.Send(h.membersFrame(typeRoomMembers, reqID, room, c.UserID, &page, blocked))
	return nil
}

// RoomMembers returns a page of room's members as viewer may see them,
// encoded as the HTTP reply {"room","members","next","count","v"}. viewer
// "" is a backend holding the API key; a user must be a member.
func (h *Hub) RoomMembers(ctx context.Context, viewer, room, after string, limit int) ([]byte, error) {
	if err := h.mayReadRoom(ctx, viewer, room); err != nil {
		return nil, err
	}
	page, err := h.roomPage(ctx, room, after, limit)
	if err != nil {
		return nil, err
	}
	blocked, err := h.roomBlockers(ctx, viewer, room, after, &page)
	if err != nil {
		return nil, err
	}
	return h.membersFrame("", nil, room, viewer, &page, blocked), nil
}

// RoomCount returns room's member count as viewer is told it, and the
// room's version.
func (h *Hub) RoomCount(ctx context.Context, viewer, room string) ([]byte, error) {
	if err := h.mayReadRoom(ctx, viewer, room); err != nil {
		return nil, err
	}
	page, err := h.roomPage(ctx, room, "", 0)
	if err != nil {
		return nil, err
	}
	blocked, err := h.roomBlockers(ctx, viewer, room, "", &page)
	if err != nil {
		return nil, err
	}
	b := []byte(`{"room":`)
	b = presence.AppendString(b, room)
	return appendCountV(b, max(0, h.countFor(viewer, page.Count, page.Visible)-blocked), page.V), nil
}

// UserRooms returns the rooms userID is in, sorted: the rooms of the
// user's live sessions, those in their grace included. viewer "" is the
// API key; a user may only ask about themselves.
func (h *Hub) UserRooms(ctx context.Context, viewer, userID string) ([]string, error) {
	if err := presence.ValidateUserID(userID); err != nil {
		return nil, err
	}
	if viewer != "" && viewer != userID {
		return nil, presence.Errorf(presence.CodeForbidden, "a user may only list their own rooms")
	}
	states, err := h.cfg.Store.Load(ctx, []string{userID})
	if err != nil {
		return nil, h.unavailable(err)
	}
	st := states[userID]
	rooms := UserRoomsOf(&st)
	if rooms == nil {
		rooms = []string{}
	}
	return rooms, nil
}

// mayReadRoom allows the API key ("") and the room's members.
func (h *Hub) mayReadRoom(ctx context.Context, viewer, room string) error {
	if err := presence.ValidateRoom(room); err != nil {
		return err
	}
	if viewer == "" {
		return nil
	}
	rooms, err := h.UserRooms(ctx, "", viewer)
	if err != nil {
		return err
	}
	if !slices.Contains(rooms, room) {
		return presence.Errorf(presence.CodeForbidden, "only the members of room %s may read it", room)
	}
	return nil
}

func (h *Hub) roomPage(ctx context.Context, room, after string, limit int) (presence.RoomPage, error) {
	rs, err := h.roomStore()
	if err != nil {
		return presence.RoomPage{}, err
	}
	if err := presence.ValidateRoom(room); err != nil {
		return presence.RoomPage{}, err
	}
	if limit < 0 || limit > MaxRoomPage {
		return presence.RoomPage{}, presence.Errorf(presence.CodeInvalidArgument, "limit must be between 1 and %d", MaxRoomPage)
	}
	if len(after) > presence.MaxIDBytes {
		return presence.RoomPage{}, presence.Errorf(presence.CodeInvalidArgument, "after is longer than %d bytes", presence.MaxIDBytes)
	}
	page, err := rs.RoomMembers(ctx, room, after, limit)
	if err != nil {
		return presence.RoomPage{}, h.unavailable(err)
	}
	return page, nil
}

// ParseRoomLimit turns a limit given by a client (nil: the default) into
// a page size, refusing what is out of range.
func ParseRoomLimit(limit *int) (int, error) {
	if limit == nil {
		return DefaultRoomPage, nil
	}
	if *limit < 1 || *limit > MaxRoomPage {
		return 0, presence.Errorf(presence.CodeInvalidArgument, "limit must be between 1 and %d, got %s", MaxRoomPage, strconv.Itoa(*limit))
	}
	return *limit, nil
}
