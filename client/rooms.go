package client

import (
	"context"
	"encoding/json"

	"github.com/presenced/presenced/protocol"
)

// Room decodes the message as a room message (room_state, room_join,
// room_leave, room_update, room_summary, room_members, cursor).
func (m Message) Room() (protocol.RoomMessage, error) {
	var r protocol.RoomMessage
	err := json.Unmarshal(m.Raw, &r)
	return r, err
}

// JoinRoom joins room with meta (nil: none) and returns the room_state.
func (c *Conn) JoinRoom(ctx context.Context, room string, meta any) (protocol.RoomMessage, error) {
	msg := map[string]any{"type": protocol.TypeJoinRoom, "room": room}
	if meta != nil {
		msg["meta"] = meta
	}
	return c.roomRequest(ctx, msg)
}

// LeaveRoom leaves room.
func (c *Conn) LeaveRoom(ctx context.Context, room string) error {
	_, err := c.Request(ctx, map[string]any{"type": protocol.TypeLeaveRoom, "room": room})
	return err
}

// UpdateRoomMeta replaces this connection's meta in room.
func (c *Conn) UpdateRoomMeta(ctx context.Context, room string, meta any) error {
	_, err := c.Request(ctx, map[string]any{"type": protocol.TypeUpdateRoomMeta, "room": room, "meta": meta})
	return err
}

// Cursor sends a cursor position in room (no reply is requested).
func (c *Conn) Cursor(ctx context.Context, room string, cursor any) error {
	return c.Send(ctx, struct {
		Type   string `json:"type"`
		Room   string `json:"room"`
		Cursor any    `json:"cursor"`
	}{protocol.TypeCursor, room, cursor})
}

// RoomMembers reads a page of room's members after the cursor after ("":
// the first page); limit 0 means the server's default.
func (c *Conn) RoomMembers(ctx context.Context, room, after string, limit int) (protocol.RoomMessage, error) {
	msg := map[string]any{"type": protocol.TypeRoomMembers, "room": room}
	if after != "" {
		msg["after"] = after
	}
	if limit != 0 {
		msg["limit"] = limit
	}
	return c.roomRequest(ctx, msg)
}

func (c *Conn) roomRequest(ctx context.Context, msg map[string]any) (protocol.RoomMessage, error) {
	m, err := c.Request(ctx, msg)
	if err != nil {
		return protocol.RoomMessage{}, err
	}
	return m.Room()
}
