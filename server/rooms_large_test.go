package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// TestLargeRoomSummaries runs a room around an announce limit of 3: at 3
// members joins and leaves are announced one by one, above it they come
// as one room_summary per interval.
func TestLargeRoomSummaries(t *testing.T) {
	h := start(t, func(c *server.Config) { c.Rooms.RoomAnnounceMax = 3 })
	conns := map[string]*client.Conn{}
	for _, u := range []string{"a", "b", "c"} {
		conns[u] = h.dial(u, "web")
		h.join(conns[u], "big", nil)
	}
	a := conns["a"]
	h.roomMsg(a, protocol.TypeRoomJoin) // b
	if j := h.roomMsg(a, protocol.TypeRoomJoin); j.Member.UserID != "c" || j.Count != 3 {
		t.Fatalf("join at the limit = %+v", j)
	}
	h.roomMsg(conns["b"], protocol.TypeRoomJoin) // c

	// The 4th member: no room_join; it gets the count and the first page.
	d := h.dial("d", "web")
	st := h.join(d, "big", nil)
	if st.Count != 4 || memberIDs(st.Members) != "a,b,c" || st.Next == nil || *st.Next != "c" {
		t.Fatalf("room_state of a large room = %+v", st)
	}
	h.quiet(a)
	h.advance(2*time.Second-time.Millisecond, time.Second, a, d)
	h.quiet(a)
	h.advance(time.Millisecond, time.Millisecond, a, d)
	s := h.roomMsg(a, protocol.TypeRoomSummary)
	if s.Count != 4 || !slices.Equal(s.Joined, []string{"d"}) || len(s.Left) != 0 || s.Truncated || s.V != st.V {
		t.Fatalf("summary = %+v", s)
	}
	// d, who joined within the interval, gets it too.
	h.roomMsg(d, protocol.TypeRoomSummary)

	// Net changes: e joins and leaves, f joins, d changes its meta, within
	// one interval.
	e := h.dial("e", "web")
	h.join(e, "big", nil)
	if err := e.LeaveRoom(ctx5(t), "big"); err != nil {
		t.Fatal(err)
	}
	f := h.dial("f", "web")
	h.join(f, "big", nil)
	if err := d.UpdateRoomMeta(ctx5(t), "big", map[string]any{"mode": "editing"}); err != nil {
		t.Fatal(err)
	}
	h.quiet(a)
	h.advance(2*time.Second, time.Second, a, d, f)
	s = h.roomMsg(a, protocol.TypeRoomSummary)
	if s.Count != 5 || !slices.Equal(s.Joined, []string{"f"}) || !slices.Equal(s.Updated, []string{"d"}) || len(s.Left) != 0 {
		t.Fatalf("summary = %+v", s)
	}
	// A quiet interval sends nothing.
	h.advance(2*time.Second, time.Second, a, d, f)
	h.quiet(a)

	// Back to the limit: leaves that bring the room to 3 are announced.
	if err := f.LeaveRoom(ctx5(t), "big"); err != nil {
		t.Fatal(err)
	}
	h.quiet(a) // 5 → 4: still large
	if err := d.LeaveRoom(ctx5(t), "big"); err != nil {
		t.Fatal(err)
	}
	if l := h.roomMsg(a, protocol.TypeRoomLeave); l.UserID != "d" || l.Count != 3 {
		t.Fatalf("leave back at the limit = %+v", l)
	}
	h.advance(2*time.Second, time.Second, a)
	if s := h.roomMsg(a, protocol.TypeRoomSummary); !slices.Equal(s.Left, []string{"f"}) || s.Count != 3 {
		t.Fatalf("summary = %+v", s)
	}
}
