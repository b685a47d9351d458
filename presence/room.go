package presence

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// Room limits that are part of the protocol.
const (
	// MaxRoomBytes bounds a room name.
	MaxRoomBytes = 200
	// MaxMetaBytes bounds a connection's room meta (its JSON encoding).
	MaxMetaBytes = 2048
	// MaxCursorBytes bounds one cursor position (its JSON encoding).
	MaxCursorBytes = 512
)

// RoomConn is one connection (session) of a member in a room.
type RoomConn struct {
	SessionID string          `json:"session_id"`
	Device    string          `json:"device,omitempty"`
	Meta      json.RawMessage `json:"meta"`
}

// RoomMember is one user's membership of a room: the record a RoomStore
// keeps per room and user. A user is a member while at least one of their
// sessions is in the room; members are never empty.
type RoomMember struct {
	UserID string `json:"user_id"`
	// JoinedAt is when the member's first connection joined; it stays while
	// any connection remains.
	JoinedAt    time.Time  `json:"joined_at"`
	Connections []RoomConn `json:"connections"`
	// Invisible mirrors the user's invisibility, so that fan-out and reads
	// hide the member without loading the user's state.
	Invisible bool `json:"invisible,omitempty"`
	// UserV is the user-state version Invisible was taken from: a later
	// write carrying an older version does not undo a newer one.
	UserV uint64 `json:"user_v,omitempty"`
	// V is the room version at which the store last wrote the record (0
	// for a record written before stores kept it): a node that missed a
	// room's events tells by it which members changed since. The store
	// sets it; it is not part of Equal nor of the wire form.
	V uint64 `json:"v,omitempty"`
}

// Clone returns a deep copy of m (meta bytes are shared: they are never
// modified in place).
func (m *RoomMember) Clone() *RoomMember {
	if m == nil {
		return nil
	}
	c := *m
	c.Connections = append([]RoomConn(nil), m.Connections...)
	return &c
}

// Stored returns what a room store keeps of m, the record a RoomStore
// update function returned for userID: nil when m has no connection left
// (a member has at least one), m with its user id set otherwise.
func (m *RoomMember) Stored(userID string) *RoomMember {
	if m == nil || len(m.Connections) == 0 {
		return nil
	}
	m.UserID = userID
	return m
}

// Conn returns the index of the connection with session id, or -1.
func (m *RoomMember) Conn(sessionID string) int {
	for i := range m.Connections {
		if m.Connections[i].SessionID == sessionID {
			return i
		}
	}
	return -1
}

// Equal reports whether m and o are the same membership as viewers would
// see it, invisibility included.
func (m *RoomMember) Equal(o *RoomMember) bool {
	if m == nil || o == nil {
		return m == o
	}
	if m.UserID != o.UserID || !m.JoinedAt.Equal(o.JoinedAt) || m.Invisible != o.Invisible ||
		len(m.Connections) != len(o.Connections) {
		return false
	}
	for i, c := range m.Connections {
		d := o.Connections[i]
		if c.SessionID != d.SessionID || c.Device != d.Device || !bytes.Equal(c.Meta, d.Meta) {
			return false
		}
	}
	return true
}

// AppendJSON appends the member's wire form to b:
// {"user_id":…,"joined_at":…,"connections":[{"session_id":…,"device":…,"meta":{…}}]}.
func (m *RoomMember) AppendJSON(b []byte) []byte {
	b = append(b, `{"user_id":`...)
	b = appendString(b, m.UserID)
	b = append(b, `,"joined_at":`...)
	b = AppendUnixSeconds(b, m.JoinedAt)
	b = append(b, `,"connections":[`...)
	for i, c := range m.Connections {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"session_id":`...)
		b = appendString(b, c.SessionID)
		b = append(b, `,"device":`...)
		b = appendOptString(b, c.Device)
		b = append(b, `,"meta":`...)
		if len(c.Meta) == 0 {
			b = append(b, "{}"...)
		} else {
			b = append(b, c.Meta...)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// RoomChange is the outcome of a room store's UpdateRoom.
type RoomChange struct {
	Before, After *RoomMember
	// Changed is false when fn returned what was there: V did not move.
	Changed bool
	// Count is the room's members after the change; Visible those of them
	// that are not invisible.
	Count, Visible int
	V              uint64
}

// RoomPage is one page of a room's members, in user-id order.
type RoomPage struct {
	Members        []*RoomMember
	Count, Visible int
	V              uint64
	// Next is the after of the next page; "" when this page is the last.
	Next string
}

// ValidateRoom checks a room name: 1 to MaxRoomBytes bytes of printable
// ASCII (0x21–0x7e) other than '*', which is reserved for access patterns.
func ValidateRoom(room string) error {
	if room == "" {
		return Errorf(CodeInvalidArgument, "room must not be empty")
	}
	if len(room) > MaxRoomBytes {
		return Errorf(CodeInvalidArgument, "room is %d bytes, at most %d allowed", len(room), MaxRoomBytes)
	}
	for i := 0; i < len(room); i++ {
		if c := room[i]; c <= 0x20 || c >= 0x7f || c == '*' {
			return Errorf(CodeInvalidArgument, "room may only hold printable ASCII other than space and '*' (byte %d is %q)", i, c)
		}
	}
	return nil
}

// CompactObject checks that raw is a JSON object of at most max bytes once
// compacted, and returns the compact form. what names the field in errors.
// An absent value (nil) is the empty object.
func CompactObject(what string, raw json.RawMessage, max int) (json.RawMessage, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return emptyMeta, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil || buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, Errorf(CodeInvalidArgument, "%s must be a JSON object", what)
	}
	if buf.Len() > max {
		return nil, Errorf(CodeLimitExceeded, "%s is %d bytes, at most %d allowed", what, buf.Len(), max)
	}
	return json.RawMessage(buf.Bytes()), nil
}

// RoomAllowed reports whether room matches one of patterns: a pattern is a
// room name, or a prefix followed by '*' ("doc:*"); "*" alone matches
// every room.
func RoomAllowed(patterns []string, room string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if len(room) >= len(prefix) && room[:len(prefix)] == prefix {
				return true
			}
		} else if p == room {
			return true
		}
	}
	return false
}
