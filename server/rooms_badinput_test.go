package server_test

import (
	"strings"
	"testing"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/server"
)

func TestBadRoomMessagesGetClearErrorsAndChangeNothing(t *testing.T) {
	h := start(t, nil)
	c := h.inRoom("doc:1", "alice", "bob")
	alice, bob := c[0], c[1]
	before, err := alice.RoomMembers(ctx5(t), "doc:1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	bigMeta := `{"k":"` + strings.Repeat("m", presence.MaxMetaBytes) + `"}`
	bigCursor := `{"k":"` + strings.Repeat("c", presence.MaxCursorBytes) + `"}`
	cases := []struct{ raw, code, mention string }{
		{`{"type":"join_room"}`, "invalid_argument", "room"},
		{`{"type":"join_room","room":"a b"}`, "invalid_argument", "printable"},
		{`{"type":"join_room","room":"doc:*"}`, "invalid_argument", "'*'"},
		{`{"type":"join_room","room":"café"}`, "invalid_argument", "ASCII"},
		{`{"type":"join_room","room":"` + strings.Repeat("r", presence.MaxRoomBytes+1) + `"}`, "invalid_argument", "200"},
		{`{"type":"join_room","room":"doc:2","meta":` + bigMeta + `}`, "limit_exceeded", "2048"},
		{`{"type":"join_room","room":"doc:2","meta":[1]}`, "invalid_argument", "object"},
		{`{"type":"join_room","room":"doc:2","meta":"viewing"}`, "invalid_argument", "object"},
		{`{"type":"join_room","room":"doc:1"}`, "conflict", "already"},
		{`{"type":"join_room","room":"doc:2","meta":{`, "bad_json", ""},
		{`{"type":"leave_room","room":"doc:2"}`, "not_found", "doc:2"},
		{`{"type":"leave_room"}`, "invalid_argument", "room"},
		{`{"type":"update_room_meta","room":"doc:2","meta":{}}`, "not_found", "doc:2"},
		{`{"type":"update_room_meta","room":"doc:1"}`, "invalid_argument", "meta"},
		{`{"type":"update_room_meta","room":"doc:1","meta":` + bigMeta + `}`, "limit_exceeded", "2048"},
		{`{"type":"update_room_meta","room":"doc:1","meta":true}`, "invalid_argument", "object"},
		{`{"type":"cursor","room":"doc:2","cursor":{"x":1}}`, "not_found", "doc:2"},
		{`{"type":"cursor","room":"doc:1","cursor":` + bigCursor + `}`, "limit_exceeded", "512"},
		{`{"type":"cursor","room":"doc:1","cursor":5}`, "invalid_argument", "object"},
		{`{"type":"cursor","room":"doc:1"}`, "invalid_argument", "cursor"},
		{`{"type":"room_members","room":"doc:1","limit":0}`, "invalid_argument", "1000"},
		{`{"type":"room_members","room":"doc:1","limit":1001}`, "invalid_argument", "1000"},
		{`{"type":"room_members","room":"doc:1","limit":"ten"}`, "bad_json", ""},
		{`{"type":"room_members","room":"doc:2"}`, "forbidden", "members"},
		{`{"type":"room_heartbeat"}`, "invalid_argument", "room"},
	}
	for _, tc := range cases {
		m := h.errorReply(alice, tc.raw)
		if m.Code != tc.code || !strings.Contains(m.Message, tc.mention) {
			t.Errorf("%.80s → %s %q, want %s mentioning %q", tc.raw, m.Code, m.Message, tc.code, tc.mention)
		}
	}
	// Nothing changed: the room, alice's rooms, and nobody was told anything.
	after, err := alice.RoomMembers(ctx5(t), "doc:1", "", 0)
	if err != nil || after.V != before.V || string(after.Members[0].Connections[0].Meta) != `{}` {
		t.Fatalf("after bad input: %+v, %v (before v%d)", after, err, before.V)
	}
	code, body := h.api("GET", "/v1/users/alice/rooms", nil, "")
	if code != 200 || string(body) != `{"user_id":"alice","rooms":["doc:1"]}`+"\n" {
		t.Fatalf("alice's rooms = %s", body)
	}
	h.quiet(bob)
}

func TestRoomHTTPBadInput(t *testing.T) {
	h := start(t, nil)
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/rooms/a%20b/members", 400, "invalid_argument"},
		{"/v1/rooms/doc:1/members?limit=0", 400, "invalid_argument"},
		{"/v1/rooms/doc:1/members?limit=x", 400, "invalid_argument"},
		{"/v1/rooms/doc:1/members?after=" + strings.Repeat("a", 257), 400, "invalid_argument"},
		{"/v1/rooms/" + strings.Repeat("r", 201) + "/count", 400, "invalid_argument"},
		{"/v1/users/a%00b/rooms", 400, "invalid_argument"},
	} {
		code, body := h.api("GET", tc.path, nil, "")
		if code != tc.status || !strings.Contains(string(body), tc.code) {
			t.Errorf("GET %s = %d %s, want %d %s", tc.path, code, body, tc.status, tc.code)
		}
	}
	// An unknown room is empty.
	if code, body := h.api("GET", "/v1/rooms/nobody-here/members", nil, ""); code != 200 ||
		string(body) != `{"room":"nobody-here","members":[],"next":null,"count":0,"v":0}`+"\n" {
		t.Fatalf("empty room = %d %s", code, body)
	}
}

func TestRoomLimits(t *testing.T) {
	h := start(t, func(c *server.Config) { c.Rooms.MaxRoomsPerConnection = 2; c.Rooms.MaxRoomMembers = 2 })
	alice := h.dial("alice", "web")
	h.join(alice, "r1", nil)
	h.join(alice, "r2", nil)
	_, err := alice.JoinRoom(ctx5(t), "r3", nil)
	expectCode(t, err, presence.CodeLimitExceeded)
	// Leaving frees a place.
	if err := alice.LeaveRoom(ctx5(t), "r2"); err != nil {
		t.Fatal(err)
	}
	h.join(alice, "r3", nil)

	bob := h.dial("bob", "web")
	h.join(bob, "r1", nil)
	h.roomMsg(alice, "room_join")
	carol := h.dial("carol", "web")
	_, err = carol.JoinRoom(ctx5(t), "r1", nil)
	expectCode(t, err, presence.CodeLimitExceeded)
	// A second tab of a member is not a new member.
	bobTab := h.dial("bob", "web")
	h.join(bobTab, "r1", nil)
	h.roomMsg(alice, "room_update")
	// The refused join left no trace: carol is in no room, and offline.
	code, body := h.api("GET", "/v1/users/carol/rooms", nil, "")
	if code != 200 || string(body) != `{"user_id":"carol","rooms":[]}`+"\n" {
		t.Fatalf("carol's rooms = %s", body)
	}
	if ps, _ := alice.GetPresence(ctx5(t), "carol"); ps["carol"].Status != presence.StatusOffline || ps["carol"].V != 0 {
		t.Fatalf("carol = %+v", ps["carol"])
	}
	if p, _ := alice.RoomMembers(ctx5(t), "r1", "", 0); memberIDs(p.Members) != "alice,bob" {
		t.Fatalf("r1 = %+v", p)
	}
	h.quiet(alice)
}
