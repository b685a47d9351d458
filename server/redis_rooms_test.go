package server_test

import (
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/protocol"
)

// TestRedisRoomsAcrossNodes puts the members of one room on three nodes:
// each sees the others join, update, send cursors and leave, whether they
// leave by request or at the end of their grace after their node shut
// down, settled by another node.
func TestRedisRoomsAcrossNodes(t *testing.T) {
	c := startNodes(t, 3, sharedCluster(t).URL())
	a, b, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	alice := a.dial("alice", "web")
	a.join(alice, "doc:1", map[string]any{"mode": "viewing"})
	bob := b.dial("bob", "web")
	st := b.join(bob, "doc:1", nil)
	if st.Count != 2 || memberIDs(st.Members) != "alice,bob" {
		t.Fatalf("bob's room_state on B = %+v", st)
	}
	if j := a.roomMsg(alice, protocol.TypeRoomJoin); j.Member.UserID != "bob" || j.Count != 2 || j.V != st.V {
		t.Fatalf("alice got %+v (state v%d)", j, st.V)
	}
	carol := n3.dial("carol", "web")
	st = n3.join(carol, "doc:1", nil)
	if st.Count != 3 || memberIDs(st.Members) != "alice,bob,carol" {
		t.Fatalf("carol's room_state on C = %+v", st)
	}
	for _, w := range []struct {
		h *harness
		c *client.Conn
	}{{a, alice}, {b, bob}} {
		if j := w.h.roomMsg(w.c, protocol.TypeRoomJoin); j.Member.UserID != "carol" || j.Count != 3 || j.V != st.V {
			t.Fatalf("room_join of carol = %+v", j)
		}
	}
	// Paging from any node lists every node's members.
	page, err := alice.RoomMembers(ctx5(t), "doc:1", "", 2)
	if err != nil || memberIDs(page.Members) != "alice,bob" || page.Next == nil || *page.Next != "bob" || page.Count != 3 {
		t.Fatalf("page 1 on A = %+v, %v", page, err)
	}
	if page, err = alice.RoomMembers(ctx5(t), "doc:1", "bob", 2); err != nil || memberIDs(page.Members) != "carol" || page.Next != nil {
		t.Fatalf("page 2 on A = %+v, %v", page, err)
	}

	if err := bob.UpdateRoomMeta(ctx5(t), "doc:1", map[string]any{"mode": "editing"}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		h *harness
		c *client.Conn
	}{{a, alice}, {n3, carol}} {
		if u := w.h.roomMsg(w.c, protocol.TypeRoomUpdate); u.Member.UserID != "bob" || metaOf(t, u.Member.Connections[0])["mode"] != "editing" {
			t.Fatalf("room_update = %+v", u)
		}
	}
	b.roomMsg(bob, protocol.TypeRoomUpdate) // his own
	b.sendCursor(bob, "doc:1", 7)
	for _, w := range []struct {
		h *harness
		c *client.Conn
	}{{a, alice}, {n3, carol}} {
		if x, m := w.h.cursorX(w.c); x != 7 || m.UserID != "bob" {
			t.Fatalf("cursor = %d %+v", x, m)
		}
	}

	if err := bob.LeaveRoom(ctx5(t), "doc:1"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		h *harness
		c *client.Conn
	}{{a, alice}, {n3, carol}} {
		if l := w.h.roomMsg(w.c, protocol.TypeRoomLeave); l.UserID != "bob" || l.Count != 2 {
			t.Fatalf("room_leave = %+v", l)
		}
	}

	// Node C shuts down: carol stays in the room through her grace, and
	// leaves at its end, settled by A's or B's reaper.
	if err := n3.srv.Shutdown(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	c.nodes = c.nodes[:2]
	c.advance(4*time.Second, time.Second, alice)
	a.quiet(alice)
	c.advance(2*time.Second, time.Second, alice)
	if l := a.roomMsg(alice, protocol.TypeRoomLeave); l.UserID != "carol" || l.Count != 1 {
		t.Fatalf("room_leave after the grace = %+v", l)
	}
	dave := b.dial("dave", "web")
	if st := b.join(dave, "doc:1", nil); memberIDs(st.Members) != "alice,dave" || st.Count != 2 {
		t.Fatalf("dave's room_state on B = %+v", st)
	}
}
