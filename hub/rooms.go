package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/presenced/presenced/presence"
)

// RoomStore keeps who is in each room: one record per room and member, and
// per room a member count and a version. Like Store it is shared by every
// node of a deployment. Membership is derived from presence sessions (each
// session lists its rooms, see presence.Session.Rooms); the hub keeps the
// two in step, so a RoomStore never expires anything on its own.
type RoomStore interface {
	// UpdateRoom loads userID's member record in room (nil when not a
	// member) and the room's member count, runs fn on a copy of the record,
	// and saves what fn returns atomically: nil removes the member. When the
	// result differs from the record (RoomMember.Equal), the room's version
	// increases. A version is never reused, not even after the room emptied
	// and filled again, so that nodes can drop stale events by version. fn
	// may run more than once on a concurrent change; it must only use its
	// arguments. An error from fn is returned as is and changes nothing.
	UpdateRoom(ctx context.Context, room, userID string, fn func(m *presence.RoomMember, count int) (*presence.RoomMember, error)) (presence.RoomChange, error)
	// RoomMembers reads, atomically, up to limit members of room whose user
	// ids sort after after (byte order), with the room's counts and version.
	// An unknown room is empty at version 0.
	RoomMembers(ctx context.Context, room, after string, limit int) (presence.RoomPage, error)
}

// RoomConfig configures rooms. It is embedded in Config.
type RoomConfig struct {
	// Rooms keeps room membership. Nil means room requests fail as
	// unavailable.
	Rooms RoomStore
	// RoomAnnounceMax is the largest room whose joins, leaves and updates
	// are sent one by one; larger rooms send a summary every
	// RoomSummaryInterval instead. Zero means 100.
	RoomAnnounceMax int
	// RoomSummaryInterval is how often a large room's changes are
	// summarised. Zero means 2s.
	RoomSummaryInterval time.Duration
	// MaxRoomsPerConnection bounds the rooms one connection is in. Zero
	// means 100.
	MaxRoomsPerConnection int
	// MaxRoomMembers bounds the members of one room. Zero means 100,000.
	MaxRoomMembers int
	// RoomActiveWait bounds how long a join waits for its room's bus
	// subscription on a bus that subscribes asynchronously; past it the
	// join goes on, and the room is re-read once the subscription takes
	// effect. Zero means 2s.
	RoomActiveWait time.Duration
}

// Fixed room limits.
const (
	// MaxRoomPage bounds a page of room_members, and the members listed in
	// room_state.
	MaxRoomPage = 1000
	// MaxSummaryDelta bounds each list (joined, left, updated) of one
	// room_summary; a cut list sets truncated.
	MaxSummaryDelta = 100
	// CursorInterval is the least time between two cursors of one
	// connection in one room that reach the others: at most 30 a second.
	CursorInterval = time.Second / 30
)

func (c *RoomConfig) setRoomDefaults() error {
	if c.RoomAnnounceMax == 0 {
		c.RoomAnnounceMax = 100
	}
	if c.RoomSummaryInterval == 0 {
		c.RoomSummaryInterval = 2 * time.Second
	}
	if c.RoomActiveWait == 0 {
		c.RoomActiveWait = 2 * time.Second
	}
	if c.MaxRoomsPerConnection == 0 {
		c.MaxRoomsPerConnection = 100
	}
	if c.MaxRoomMembers == 0 {
		c.MaxRoomMembers = 100000
	}
	switch {
	case c.RoomAnnounceMax < 0:
		return fmt.Errorf("hub: RoomAnnounceMax must not be negative")
	case c.RoomSummaryInterval < 0:
		return fmt.Errorf("hub: RoomSummaryInterval must not be negative")
	case c.MaxRoomsPerConnection < 0:
		return fmt.Errorf("hub: MaxRoomsPerConnection must not be negative")
	case c.MaxRoomMembers < 0:
		return fmt.Errorf("hub: MaxRoomMembers must not be negative")
	}
	return nil
}

// roomStatePage is how many members a room_state lists.
func (h *Hub) roomStatePage() int { return min(max(h.cfg.RoomAnnounceMax, 1), MaxRoomPage) }

// large reports whether a room of count members is past the announce limit.
func (h *Hub) large(count int) bool { return count > h.cfg.RoomAnnounceMax }

func (h *Hub) roomStore() (RoomStore, error) {
	if h.cfg.Rooms == nil {
		return nil, presence.Errorf(presence.CodeUnavailable, "rooms are not configured on this server")
	}
	return h.cfg.Rooms, nil
}
