package protocol

import "encoding/json"

// Room message types, client → server.
const (
	TypeJoinRoom       = "join_room"
	TypeLeaveRoom      = "leave_room"
	TypeUpdateRoomMeta = "update_room_meta"
	TypeRoomHeartbeat  = "room_heartbeat"
	TypeCursor         = "cursor"
	TypeRoomMembers    = "room_members"
)

// Room message types, server → client (TypeCursor and TypeRoomMembers are
// also the names of their replies).
const (
	TypeRoomState   = "room_state"
	TypeRoomJoin    = "room_join"
	TypeRoomLeave   = "room_leave"
	TypeRoomUpdate  = "room_update"
	TypeRoomSummary = "room_summary"
	// TypeRoomRemoved tells a connection a backend took its user out of
	// the room: {"type":"room_removed","room":…}.
	TypeRoomRemoved = "room_removed"
)

// RoomFields are the fields of the room messages, embedded in
// ClientMessage.
type RoomFields struct {
	Room   string          `json:"room,omitempty"`
	Meta   json.RawMessage `json:"meta,omitempty"`
	Cursor json.RawMessage `json:"cursor,omitempty"`
	// room_members: the page after this cursor (the previous reply's
	// next), and at most this many members.
	After *string `json:"after,omitempty"`
	Limit *int    `json:"limit,omitempty"`
}

// RoomMessage is a room message from the server, for decoding on the
// client; Type says which fields apply.
type RoomMessage struct {
	Type      string          `json:"type"`
	ID        json.RawMessage `json:"id,omitempty"`
	Room      string          `json:"room"`
	Member    *RoomMember     `json:"member,omitempty"`
	Members   []RoomMember    `json:"members,omitempty"`
	UserID    string          `json:"user_id,omitempty"`
	SessionID string          `json:"session_id,omitempty"`
	Cursor    json.RawMessage `json:"cursor,omitempty"`
	Count     int             `json:"count"`
	V         uint64          `json:"v"`
	Next      *string         `json:"next,omitempty"`
	Joined    []string        `json:"joined,omitempty"`
	Left      []string        `json:"left,omitempty"`
	Updated   []string        `json:"updated,omitempty"`
	Truncated bool            `json:"truncated,omitempty"`
}

// RoomMember is a member of a room as clients see it.
type RoomMember struct {
	UserID      string           `json:"user_id"`
	JoinedAt    float64          `json:"joined_at"`
	Connections []RoomConnection `json:"connections"`
}

// RoomConnection is one connection of a member.
type RoomConnection struct {
	SessionID string          `json:"session_id"`
	Device    *string         `json:"device"`
	Meta      json.RawMessage `json:"meta"`
}
