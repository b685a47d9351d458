package server_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

func roomToken(t *testing.T, user string, rooms []string) string {
	t.Helper()
	tok, err := auth.SignExpiring(testSecret, user, t0.Add(time.Hour), rooms)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (h *harness) dialToken(tok string) *client.Conn {
	h.t.Helper()
	c, err := client.Dial(ctx5(h.t), h.base, client.Options{Token: tok, Device: "web"})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(c.Drop)
	return c
}

func expectCode(t *testing.T, err error, code presence.Code) {
	t.Helper()
	var pe *presence.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

func TestRoomAccessFollowsTheTokenClaim(t *testing.T) {
	h := start(t, func(c *server.Config) { c.Dev = false })
	aliceTok := roomToken(t, "alice", []string{"doc:*", "team:7"})
	alice := h.dialToken(aliceTok)
	h.join(alice, "doc:1", nil)
	h.join(alice, "team:7", nil)
	for _, room := range []string{"team:8", "team:77", "doc", "other"} {
		_, err := alice.JoinRoom(ctx5(t), room, nil)
		expectCode(t, err, presence.CodeForbidden)
	}
	// Without the claim, no room at all.
	bobTok := roomToken(t, "bob", nil)
	bob := h.dialToken(bobTok)
	_, err := bob.JoinRoom(ctx5(t), "doc:1", nil)
	expectCode(t, err, presence.CodeForbidden)

	// Only members (and the API key) read a room.
	_, err = bob.RoomMembers(ctx5(t), "doc:1", "", 0)
	expectCode(t, err, presence.CodeForbidden)
	for _, tc := range []struct {
		path, bearer string
		status       int
	}{
		{"/v1/rooms/doc:1/members", bobTok, 403},
		{"/v1/rooms/doc:1/count", bobTok, 403},
		{"/v1/rooms/doc:1/members", aliceTok, 200},
		{"/v1/rooms/doc:1/count", aliceTok, 200},
		{"/v1/rooms/doc:1/members", "", 200},
		{"/v1/rooms/doc:1/members", "-", 401},
		{"/v1/users/alice/rooms", bobTok, 403},
		{"/v1/users/alice/rooms", aliceTok, 200},
		{"/v1/users/alice/rooms", "", 200},
	} {
		if code, body := h.api("GET", tc.path, nil, tc.bearer); code != tc.status {
			t.Errorf("GET %s = %d %s, want %d", tc.path, code, body, tc.status)
		}
	}
	// alice's other connection reads a room she is in without joining it.
	other := h.dialToken(aliceTok)
	if p, err := other.RoomMembers(ctx5(t), "team:7", "", 0); err != nil || memberIDs(p.Members) != "alice" {
		t.Fatalf("page = %+v, %v", p, err)
	}
	code, body := h.api("GET", "/v1/users/alice/rooms", nil, "")
	if code != 200 || string(body) != `{"user_id":"alice","rooms":["doc:1","team:7"]}`+"\n" {
		t.Fatalf("alice's rooms = %s", body)
	}
}

func TestInvisibleMembersAreNotListedAndSendNoCursors(t *testing.T) {
	h := start(t, nil)
	c := h.inRoom("doc:1", "alice", "carol")
	alice, carol := c[0], c[1]

	if err := carol.SetStatus(ctx5(t), map[string]any{"status": "invisible"}); err != nil {
		t.Fatal(err)
	}
	if l := h.roomMsg(alice, protocol.TypeRoomLeave); l.UserID != "carol" || l.Count != 1 {
		t.Fatalf("going invisible = %+v", l)
	}
	// carol still sees herself, unchanged.
	h.quiet(carol)
	h.sendCursor(carol, "doc:1", 7)
	p, err := alice.RoomMembers(ctx5(t), "doc:1", "", 0)
	if err != nil || memberIDs(p.Members) != "alice" || p.Count != 1 {
		t.Fatalf("alice's page = %+v, %v", p, err)
	}
	if p, _ := carol.RoomMembers(ctx5(t), "doc:1", "", 0); memberIDs(p.Members) != "alice,carol" {
		t.Fatalf("carol's page = %+v", p)
	}
	// An invisible user joining is not announced either.
	dave := h.dial("dave", "web")
	if err := dave.SetStatus(ctx5(t), map[string]any{"status": "invisible"}); err != nil {
		t.Fatal(err)
	}
	if st := h.join(dave, "doc:1", nil); st.Count != 1 || memberIDs(st.Members) != "alice,dave" {
		t.Fatalf("dave's room_state = %+v", st)
	}
	h.quiet(alice)
	// The API key sees the real state.
	code, body := h.api("GET", "/v1/rooms/doc:1/members", nil, "")
	var all protocol.RoomMessage
	mustJSON(t, body, &all)
	if code != 200 || memberIDs(all.Members) != "alice,carol,dave" || all.Count != 3 {
		t.Fatalf("API key page = %d %s", code, body)
	}

	if err := carol.SetStatus(ctx5(t), map[string]any{"status": "online"}); err != nil {
		t.Fatal(err)
	}
	if j := h.roomMsg(alice, protocol.TypeRoomJoin); j.Member.UserID != "carol" || j.Count != 2 {
		t.Fatalf("visible again = %+v", j)
	}
	h.clock.Advance(hub.CursorInterval)
	h.sendCursor(carol, "doc:1", 8)
	if x, _ := h.cursorX(alice); x != 8 {
		t.Fatalf("cursor x = %d", x)
	}
}

func TestRoomNamesInHTTPPathsAreEscaped(t *testing.T) {
	h := start(t, nil)
	alice := h.dial("alice", "web")
	room := "org/7:doc?#%"
	h.join(alice, room, nil)
	code, body := h.api("GET", "/v1/rooms/"+url.PathEscape(room)+"/count", nil, "")
	var got struct {
		Room  string `json:"room"`
		Count int    `json:"count"`
		V     uint64 `json:"v"`
	}
	if code != 200 || json.Unmarshal(body, &got) != nil || got.Room != room || got.Count != 1 || got.V == 0 {
		t.Fatalf("count = %d %s", code, body)
	}
}
