package client

import (
	"sort"
	"strings"

	"github.com/presenced/presenced/protocol"
)

// RoomView is one connection's view of a room's members, kept from its
// room messages the way docs/protocol.md tells clients to: per member,
// an event whose v is not above what the view holds is dropped;
// room_join and room_update both say what the member is now; a
// room_leave removes it. room_summary carries no records and is not
// applied: re-read the room with room_members. A room_state starts the
// view afresh; room_members pages add to it. Not safe for concurrent use.
type RoomView struct {
	Members map[string]protocol.RoomMember
	v       map[string]uint64
}

// NewRoomView starts a view from a room_state (or room_members page).
func NewRoomView(state protocol.RoomMessage) *RoomView {
	rv := &RoomView{Members: map[string]protocol.RoomMember{}, v: map[string]uint64{}}
	rv.Apply(state)
	return rv
}

// Apply applies one room message; other messages change nothing.
func (rv *RoomView) Apply(m protocol.RoomMessage) {
	switch m.Type {
	case protocol.TypeRoomState:
		// A new snapshot (a join, a rejoin): what the view held before is
		// no longer followed.
		clear(rv.Members)
		clear(rv.v)
		fallthrough
	case protocol.TypeRoomMembers:
		for _, mem := range m.Members {
			rv.set(mem, m.V)
		}
	case protocol.TypeRoomJoin, protocol.TypeRoomUpdate:
		if m.Member != nil {
			rv.set(*m.Member, m.V)
		}
	case protocol.TypeRoomLeave:
		if m.V > rv.v[m.UserID] {
			delete(rv.Members, m.UserID)
			rv.v[m.UserID] = m.V
		}
	}
}

func (rv *RoomView) set(m protocol.RoomMember, v uint64) {
	if v > rv.v[m.UserID] {
		rv.Members[m.UserID], rv.v[m.UserID] = m, v
	}
}

// String lists the members in user-id order with the meta of each of
// their connections: `alice={"mode":"editing"} bob={},{}`.
func (rv *RoomView) String() string {
	out := make([]string, 0, len(rv.Members))
	for u, m := range rv.Members {
		metas := make([]string, len(m.Connections))
		for i, c := range m.Connections {
			metas[i] = string(c.Meta)
		}
		out = append(out, u+"="+strings.Join(metas, ","))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
