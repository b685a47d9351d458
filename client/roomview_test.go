package client

import (
	"encoding/json"
	"testing"

	"github.com/presenced/presenced/protocol"
)

func member(id, meta string) protocol.RoomMember {
	return protocol.RoomMember{UserID: id, Connections: []protocol.RoomConnection{{SessionID: id, Meta: json.RawMessage(meta)}}}
}

// TestRoomViewAppliesMessagesAsTheProtocolSays: stale events are dropped,
// joins and updates replace, leaves remove, a room_state starts afresh.
func TestRoomViewAppliesMessagesAsTheProtocolSays(t *testing.T) {
	alice, bob := member("alice", `{}`), member("bob", `{}`)
	rv := NewRoomView(protocol.RoomMessage{Type: protocol.TypeRoomState, Members: []protocol.RoomMember{alice, bob}, V: 10})
	editing := member("alice", `{"mode":"editing"}`)
	rv.Apply(protocol.RoomMessage{Type: protocol.TypeRoomUpdate, Member: &editing, V: 12})
	rv.Apply(protocol.RoomMessage{Type: protocol.TypeRoomUpdate, Member: &alice, V: 11}) // older: dropped
	rv.Apply(protocol.RoomMessage{Type: protocol.TypeRoomLeave, UserID: "bob", V: 13})
	rv.Apply(protocol.RoomMessage{Type: protocol.TypeRoomJoin, Member: &bob, V: 13}) // not newer than the leave
	if got := rv.String(); got != `alice={"mode":"editing"}` {
		t.Fatalf("view = %s", got)
	}
	carol := member("carol", `{}`)
	rv.Apply(protocol.RoomMessage{Type: protocol.TypeRoomState, Members: []protocol.RoomMember{carol}, V: 5})
	if got := rv.String(); got != "carol={}" {
		t.Fatalf("view after a new room_state = %s", got)
	}
}
