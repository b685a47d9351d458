package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/protocol"
)

func TestRoomJoinsAndLeavesAcrossTabsAndDevices(t *testing.T) {
	h := start(t, nil)
	alice := h.dial("alice", "web")
	st := h.join(alice, "doc:42", map[string]any{"mode": "viewing"})
	if st.Count != 1 || memberIDs(st.Members) != "alice" || st.Next != nil {
		t.Fatalf("room_state = %+v", st)
	}
	if c := st.Members[0].Connections; len(c) != 1 || c[0].SessionID != alice.Welcome.SessionID ||
		*c[0].Device != "web" || metaOf(t, c[0])["mode"] != "viewing" {
		t.Fatalf("alice's connections = %+v", c)
	}
	// join_room opened alice's presence session.
	if ps, _ := alice.GetPresence(ctx5(t), "alice"); ps["alice"].Status != "online" {
		t.Fatalf("alice = %+v", ps["alice"])
	}

	bobWeb := h.dial("bob", "web")
	st = h.join(bobWeb, "doc:42", nil)
	if st.Count != 2 || memberIDs(st.Members) != "alice,bob" {
		t.Fatalf("bob's room_state = %+v", st)
	}
	j := h.roomMsg(alice, protocol.TypeRoomJoin)
	if j.Member.UserID != "bob" || j.Count != 2 || j.V != st.V || string(j.Member.Connections[0].Meta) != "{}" {
		t.Fatalf("room_join = %+v (state v%d)", j, st.V)
	}

	// A second tab and a second device are room_updates, not joins.
	bobTab := h.dial("bob", "web")
	h.join(bobTab, "doc:42", nil)
	bobPhone := h.dial("bob", "mobile")
	h.join(bobPhone, "doc:42", nil)
	for _, c := range []*client.Conn{alice, bobWeb} {
		u1 := h.roomMsg(c, protocol.TypeRoomUpdate)
		u2 := h.roomMsg(c, protocol.TypeRoomUpdate)
		if len(u1.Member.Connections) != 2 || len(u2.Member.Connections) != 3 || u2.V != u1.V+1 || u2.Count != 2 {
			t.Fatalf("updates = %+v, %+v", u1, u2)
		}
	}
	// The tabs leave one by one; only the last is a room_leave.
	if err := bobTab.LeaveRoom(ctx5(t), "doc:42"); err != nil {
		t.Fatal(err)
	}
	if u := h.roomMsg(alice, protocol.TypeRoomUpdate); len(u.Member.Connections) != 2 {
		t.Fatalf("update = %+v", u)
	}
	if err := bobPhone.LeaveRoom(ctx5(t), "doc:42"); err != nil {
		t.Fatal(err)
	}
	h.roomMsg(alice, protocol.TypeRoomUpdate)
	// bob's remaining tab saw its other connections go too.
	if u1, u2 := h.roomMsg(bobWeb, protocol.TypeRoomUpdate), h.roomMsg(bobWeb, protocol.TypeRoomUpdate); len(u2.Member.Connections) != 1 || u2.V != u1.V+1 {
		t.Fatalf("bob's own updates = %+v, %+v", u1, u2)
	}
	if err := bobWeb.LeaveRoom(ctx5(t), "doc:42"); err != nil {
		t.Fatal(err)
	}
	l := h.roomMsg(alice, protocol.TypeRoomLeave)
	if l.UserID != "bob" || l.Count != 1 {
		t.Fatalf("room_leave = %+v", l)
	}
	// A connection that left hears nothing more of the room.
	h.quiet(bobWeb)
	h.quiet(alice)
}

func TestRoomMetaUpdates(t *testing.T) {
	h := start(t, nil)
	alice := h.dial("alice", "web")
	h.join(alice, "doc:1", map[string]any{"mode": "viewing"})
	bob := h.dial("bob", "web")
	st := h.join(bob, "doc:1", map[string]any{"mode": "viewing"})
	h.roomMsg(alice, protocol.TypeRoomJoin)
	if err := bob.UpdateRoomMeta(ctx5(t), "doc:1", map[string]any{"mode": "editing"}); err != nil {
		t.Fatal(err)
	}
	u := h.roomMsg(alice, protocol.TypeRoomUpdate)
	if u.Member.UserID != "bob" || metaOf(t, u.Member.Connections[0])["mode"] != "editing" || u.V != st.V+1 {
		t.Fatalf("room_update = %+v", u)
	}
	// The same meta again is no change.
	if err := bob.UpdateRoomMeta(ctx5(t), "doc:1", map[string]any{"mode": "editing"}); err != nil {
		t.Fatal(err)
	}
	h.quiet(alice)
	page, err := alice.RoomMembers(ctx5(t), "doc:1", "", 0)
	if err != nil || page.V != u.V || len(page.Members) != 2 {
		t.Fatalf("members = %+v, %v", page, err)
	}
}

func TestRoomLeaveByGraceAndReconnectWithinIt(t *testing.T) {
	h := start(t, nil)
	c := h.inRoom("doc:1", "alice", "bob")
	alice := c[0]

	// A reconnect within the grace is a second connection of bob: an
	// update, and another when the old one's grace ends; never a leave.
	h.gone(c[1], true)
	h.advance(3*time.Second, time.Second, alice)
	again := h.dial("bob", "web")
	h.join(again, "doc:1", nil)
	if u := h.roomMsg(alice, protocol.TypeRoomUpdate); len(u.Member.Connections) != 2 {
		t.Fatalf("update = %+v", u)
	}
	h.advance(2*time.Second, time.Second, alice, again)
	u := h.roomMsg(alice, protocol.TypeRoomUpdate)
	if s := sessions(u.Member); len(s) != 1 || s[0] != again.Welcome.SessionID {
		t.Fatalf("update after the grace = %+v", u)
	}
	h.quiet(alice)

	// Without a reconnect, the leave comes when the grace ends.
	h.gone(again, false)
	code, body := h.api("GET", "/v1/users/bob/rooms", nil, "")
	if code != 200 || string(body) != `{"user_id":"bob","rooms":["doc:1"]}`+"\n" {
		t.Fatalf("bob's rooms in the grace = %d %s", code, body)
	}
	h.advance(5*time.Second-time.Millisecond, time.Second, alice)
	h.quiet(alice)
	h.advance(time.Millisecond, time.Millisecond, alice)
	if l := h.roomMsg(alice, protocol.TypeRoomLeave); l.UserID != "bob" || l.Count != 1 {
		t.Fatalf("room_leave = %+v", l)
	}
	code, body = h.api("GET", "/v1/users/bob/rooms", nil, "")
	if code != 200 || string(body) != `{"user_id":"bob","rooms":[]}`+"\n" {
		t.Fatalf("bob's rooms after the grace = %d %s", code, body)
	}
}

func TestRoomLeaveByTTL(t *testing.T) {
	h := start(t, nil)
	alice := h.dial("alice", "web")
	h.join(alice, "doc:1", nil)
	silent, err := client.DialSilentAfter(ctx5(t), h.base, client.Options{UserID: "bob", Device: "web"},
		`{"type":"join_room","room":"doc:1"}`)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	h.roomMsg(alice, protocol.TypeRoomJoin)
	h.advance(30*time.Second-time.Millisecond, 5*time.Second, alice)
	h.quiet(alice)
	h.advance(time.Millisecond, time.Millisecond, alice)
	if l := h.roomMsg(alice, protocol.TypeRoomLeave); l.UserID != "bob" {
		t.Fatalf("room_leave = %+v", l)
	}
}

func TestSetOfflineAndKickLeaveRooms(t *testing.T) {
	h := start(t, nil)
	alice := h.dial("alice", "web")
	h.join(alice, "doc:1", nil)
	bob := h.dial("bob", "web")
	h.join(bob, "doc:1", nil)
	h.join(bob, "doc:2", nil)
	h.roomMsg(alice, protocol.TypeRoomJoin)
	if err := bob.SetOffline(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	h.roomMsg(alice, protocol.TypeRoomLeave)
	// The connection stays, as a watcher outside every room.
	if err := bob.LeaveRoom(ctx5(t), "doc:2"); err == nil {
		t.Fatal("bob is still in doc:2 after set_offline")
	}
	if code, body := h.api("GET", "/v1/rooms/doc:2/count", nil, ""); code != 200 || string(body) != `{"room":"doc:2","count":0,"v":0}`+"\n" {
		t.Fatalf("doc:2 count = %d %s", code, body)
	}

	carol := h.dial("carol", "web")
	h.join(carol, "doc:1", nil)
	h.roomMsg(alice, protocol.TypeRoomJoin)
	if code, _ := h.api("DELETE", "/v1/presence/carol/sessions", nil, ""); code != 204 {
		t.Fatalf("kick = %d", code)
	}
	if l := h.roomMsg(alice, protocol.TypeRoomLeave); l.UserID != "carol" || l.Count != 1 {
		t.Fatalf("room_leave = %+v", l)
	}
}

func TestRoomHeartbeatIsAccepted(t *testing.T) {
	h := start(t, nil)
	alice := h.dial("alice", "web")
	h.join(alice, "doc:1", nil)
	if _, err := alice.Request(ctx5(t), map[string]any{"type": "room_heartbeat", "room": "doc:1"}); err != nil {
		t.Fatal(err)
	}
	m := h.errorReply(alice, `{"type":"room_heartbeat","room":"doc:2"}`)
	if m.Code != "not_found" {
		t.Fatalf("heartbeat outside the room = %s", m.Raw)
	}
}

func TestRoomMembersPaging(t *testing.T) {
	h := start(t, nil)
	var conns []*client.Conn
	for _, u := range []string{"e", "a", "d", "b", "c"} {
		c := h.dial(u, "web")
		h.join(c, "team:7", nil)
		conns = append(conns, c)
	}
	var got []string
	after := ""
	for range 4 {
		p, err := conns[0].RoomMembers(ctx5(t), "team:7", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if p.Type != protocol.TypeRoomMembers || p.Count != 5 {
			t.Fatalf("page = %+v", p)
		}
		for _, m := range p.Members {
			got = append(got, m.UserID)
		}
		if p.Next == nil {
			break
		}
		after = *p.Next
	}
	if !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("paged = %v", got)
	}
	code, body := h.api("GET", "/v1/rooms/team:7/members?limit=2&after=b", nil, "")
	if code != 200 || string(body) == "" {
		t.Fatalf("HTTP page = %d %s", code, body)
	}
	var p protocol.RoomMessage
	mustJSON(t, body, &p)
	if memberIDs(p.Members) != "c,d" || p.Next == nil || *p.Next != "d" || p.Count != 5 {
		t.Fatalf("HTTP page = %s", body)
	}
}
