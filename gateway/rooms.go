package gateway

import (
	"bytes"
	"context"
	"time"

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

// Cursor messages have their own allowance, apart from the general rate
// limit: clients send them as the pointer moves, and the hub coalesces them
// to 30 a second per room anyway. A frame that starts with cursorPrefix
// uses it; a cursor written with another key first counts as any message.
const (
	cursorRatePerSecond = 120
	cursorBurst         = 120
)

var cursorPrefix = []byte(`{"type":"cursor"`)

// allowFrame charges a frame to its bucket and reports whether it may pass.
func (c *conn) allowFrame(data []byte, now int64) bool {
	if bytes.HasPrefix(data, cursorPrefix) {
		return c.cursors.allow(now, cursorRatePerSecond, cursorBurst)
	}
	return c.allow(now)
}

// bucket is a token bucket that starts full. It is touched only by the
// connection's own (serialised) message handling.
type bucket struct {
	tokens   float64
	refilled int64 // unix nanos; 0 before the first use
}

func (b *bucket) allow(now int64, rate, burst float64) bool {
	if b.refilled == 0 {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+float64(now-b.refilled)/float64(time.Second)*rate)
	}
	b.refilled = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
