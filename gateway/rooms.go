package gateway

import (
	"context"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/protocol"
)

func init() {
	for _, t := range []string{protocol.TypeJoinRoom, protocol.TypeLeaveRoom, protocol.TypeUpdateRoomMeta,
		protocol.TypeRoomHeartbeat, protocol.TypeCursor, protocol.TypeRoomMembers} {
		knownTypes[t] = true
	}
}

// dispatchRoom handles the room messages.
func (c *conn) dispatchRoom(ctx context.Context, msg *protocol.ClientMessage) error {
	h := c.g.hub
	var err error
	switch msg.Type {
	case protocol.TypeJoinRoom:
		return h.JoinRoom(ctx, c.client, msg.Room, msg.Meta, msg.ID)
	case protocol.TypeRoomMembers:
		limit, err := hub.ParseRoomLimit(msg.Limit)
		if err != nil {
			return err
		}
		after := ""
		if msg.After != nil {
			after = *msg.After
		}
		return h.RoomMembersFor(ctx, c.client, msg.Room, after, limit, msg.ID)
	case protocol.TypeLeaveRoom:
		err = h.LeaveRoom(ctx, c.client, msg.Room)
	case protocol.TypeUpdateRoomMeta:
		err = h.UpdateRoomMeta(ctx, c.client, msg.Room, msg.Meta)
	case protocol.TypeRoomHeartbeat:
		err = h.RoomHeartbeat(c.client, msg.Room)
	case protocol.TypeCursor:
		err = h.Cursor(ctx, c.client, msg.Room, msg.Cursor)
	}
	if err == nil && len(msg.ID) > 0 {
		c.reply(protocol.TypeAck, msg.ID)
	}
	return err
}

// roomPatterns returns the rooms a connection may join: the token's rooms
// claim; without the claim none, or every room in development mode.
func roomPatterns(id auth.Identity, dev bool) []string {
	switch {
	case id.Rooms != nil:
		return id.Rooms
	case dev:
		return []string{"*"}
	}
	return nil
}
