package server_test

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/protocol"
)

// join joins room on c and returns the room_state.
func (h *harness) join(c *client.Conn, room string, meta any) protocol.RoomMessage {
	h.t.Helper()
	st, err := c.JoinRoom(ctx5(h.t), room, meta)
	if err != nil {
		h.t.Fatalf("join %s: %v", room, err)
	}
	if st.Type != protocol.TypeRoomState || st.Room != room {
		h.t.Fatalf("join %s: reply %+v", room, st)
	}
	return st
}

// roomMsg waits for c's next message, which must be a typ room message.
func (h *harness) roomMsg(c *client.Conn, typ string) protocol.RoomMessage {
	h.t.Helper()
	m := h.next(c)
	if m.Type != typ {
		h.t.Fatalf("got %s, want %s", m.Raw, typ)
	}
	r, err := m.Room()
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// quiet proves nothing is queued for c: every event caused by a finished
// request or tick is queued before the reply to a later ping.
func (h *harness) quiet(c *client.Conn) {
	h.t.Helper()
	if err := c.SendRaw(ctx5(h.t), []byte(`{"type":"ping"}`)); err != nil {
		h.t.Fatal(err)
	}
	if m := h.next(c); m.Type != protocol.TypePong {
		h.t.Fatalf("expected nothing before the pong, got %s", m.Raw)
	}
}

// memberIDs returns the user ids of members, sorted.
func memberIDs(ms []protocol.RoomMember) string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.UserID
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// sessions returns the session ids of a member's connections, sorted.
func sessions(m *protocol.RoomMember) []string {
	var out []string
	for _, c := range m.Connections {
		out = append(out, c.SessionID)
	}
	sort.Strings(out)
	return out
}

func metaOf(t interface{ Fatal(...any) }, c protocol.RoomConnection) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(c.Meta, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustJSON(t interface{ Fatalf(string, ...any) }, b []byte, v any) {
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}

// inRoom dials each user (device web) and joins them to room in order,
// consuming the joins each connection hears of the later ones, so every
// connection starts quiet.
func (h *harness) inRoom(room string, users ...string) []*client.Conn {
	h.t.Helper()
	conns := make([]*client.Conn, len(users))
	for i, u := range users {
		conns[i] = h.dial(u, "web")
		h.join(conns[i], room, nil)
		for _, earlier := range conns[:i] {
			h.roomMsg(earlier, protocol.TypeRoomJoin)
		}
	}
	return conns
}
