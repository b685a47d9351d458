package server_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/internal/redistest"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
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
	var bobLeft uint64
	for _, w := range []struct {
		h *harness
		c *client.Conn
	}{{a, alice}, {n3, carol}} {
		l := w.h.roomMsg(w.c, protocol.TypeRoomLeave)
		if l.UserID != "bob" || l.Count != 2 {
			t.Fatalf("room_leave = %+v", l)
		}
		bobLeft = l.V
	}

	// Node C shuts down: carol stays in the room through her grace, and
	// leaves at its end, settled by A's or B's reaper.
	if err := n3.srv.Shutdown(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	c.nodes = c.nodes[:2]
	c.advance(4*time.Second, time.Second, alice)
	// Nothing happened: the room store, written before any event is
	// published, is still at bob's leave. (A ping alone would not do: the
	// leave may come from B's reaper, on a channel A's ping does not
	// follow.)
	roomUnchanged(t, a, "doc:1", bobLeft)
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

// TestRedisRoomResyncAfterSubscriptionLoss cuts node B off its room's
// channel (Redis drops the pub/sub connections of a user whose channel
// permissions are revoked, and refuses to subscribe it again) while node
// A's members join, change their meta and leave. When B may subscribe
// again, it re-reads the room: its member's view (client.RoomView) ends
// as the room is.
func TestRedisRoomResyncAfterSubscriptionLoss(t *testing.T) {
	rc := sharedCluster(t)
	for _, m := range rc.Masters() {
		if _, err := redistest.Do(m.Addr(), "ACL", "SETUSER", "nodeb", "reset", "on", ">b-secret", "~*", "&*", "+@all"); err != nil {
			t.Fatal(err)
		}
	}
	acl := func(rule string) {
		t.Helper()
		for _, m := range rc.Masters() {
			if _, err := redistest.Do(m.Addr(), "ACL", "SETUSER", "nodeb", rule); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() {
		for _, m := range rc.Masters() {
			_, _ = redistest.Do(m.Addr(), "ACL", "DELUSER", "nodeb")
		}
	})
	c := startNodes(t, 1, rc.URL())
	b := start(t, func(cfg *server.Config) {
		cfg.Clock = c.clock
		cfg.RedisURL = strings.Replace(rc.URL(), "://", "://nodeb:b-secret@", 1)
	})
	b.clock = c.clock
	c.nodes = append(c.nodes, b)
	a := c.nodes[0]

	carol := a.dial("carol", "web")
	a.join(carol, "doc:1", nil)
	vic := b.dial("vic", "web")
	view := client.NewRoomView(b.join(vic, "doc:1", nil))
	alice := a.dial("alice", "web")
	a.join(alice, "doc:1", nil)
	view.Apply(b.roomMsg(vic, protocol.TypeRoomJoin))
	if got := view.String(); got != "alice={} carol={} vic={}" {
		t.Fatalf("vic's view = %s", got)
	}

	subscribers := func() int64 { return shardSubscribers(t, rc, "r:doc:1") }
	acl("resetchannels")
	poll.Until(t, "B's subscription to drop", func() bool { return subscribers() == 1 })
	dave := a.dial("dave", "web")
	a.join(dave, "doc:1", nil)
	if err := alice.UpdateRoomMeta(ctx5(t), "doc:1", map[string]any{"mode": "editing"}); err != nil {
		t.Fatal(err)
	}
	if err := carol.LeaveRoom(ctx5(t), "doc:1"); err != nil {
		t.Fatal(err)
	}
	bob := a.dial("bob", "web")
	a.join(bob, "doc:1", nil)
	if err := bob.LeaveRoom(ctx5(t), "doc:1"); err != nil {
		t.Fatal(err)
	}
	erin := a.dial("erin", "web")
	a.join(erin, "doc:1", map[string]any{"mode": "viewing"})
	// Nothing reached vic meanwhile but, perhaps, B's notice that it is
	// not ready (it cannot subscribe).
	if err := vic.SendRaw(ctx5(t), []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	for m := b.next(vic); m.Type != protocol.TypePong; m = b.next(vic) {
		if m.Type != protocol.TypeError || m.Code != "unavailable" {
			t.Fatalf("vic got %s while B was cut off", m.Raw)
		}
	}

	acl("allchannels")
	// dave joins, alice updates, erin joins, carol leaves: four events.
	// While B could not subscribe it was not ready, and may have told its
	// connections so (an unavailable notice): that is not a room event.
	var got []string
	var last uint64
	for len(got) < 4 {
		m := b.next(vic)
		if m.Type == protocol.TypeError && m.Code == "unavailable" {
			continue
		}
		got = append(got, string(m.Raw))
		r, err := m.Room()
		if err != nil {
			t.Fatalf("%s: %v", m.Raw, err)
		}
		view.Apply(r)
		last = max(last, r.V)
	}
	const want = `alice={"mode":"editing"} dave={} erin={"mode":"viewing"} vic={}`
	if v := view.String(); v != want {
		t.Fatalf("vic's view after the resubscription = %s, want %s; received:\n%s", v, want, strings.Join(got, "\n"))
	}
	page, err := vic.RoomMembers(ctx5(t), "doc:1", "", 10)
	if err != nil || memberIDs(page.Members) != "alice,dave,erin,vic" || page.Count != 4 {
		t.Fatalf("room_members = %+v, %v", page, err)
	}
	// No event beyond the four is on its way: vic has the room's stored
	// version, and repeats of what vic has are dropped as stale.
	if last != page.V {
		t.Fatalf("vic's view is at v%d, the room at v%d", last, page.V)
	}
	b.quiet(vic)
	// Events flow again.
	if err := dave.LeaveRoom(ctx5(t), "doc:1"); err != nil {
		t.Fatal(err)
	}
	if l := b.roomMsg(vic, protocol.TypeRoomLeave); l.UserID != "dave" || l.Count != 3 {
		t.Fatalf("room_leave = %+v", l)
	}
}

// shardSubscribers returns the subscribers of the shard channel of a hub
// topic (any key prefix and channel partition), summed over the masters.
func shardSubscribers(t *testing.T, rc *redistest.Cluster, topic string) int64 {
	t.Helper()
	var n int64
	for _, m := range rc.Masters() {
		chans, err := redistest.Do(m.Addr(), "PUBSUB", "SHARDCHANNELS", "*}"+topic)
		if err != nil {
			t.Fatal(err)
		}
		list, _ := chans.([]any)
		for _, ch := range list {
			name, _ := ch.(string)
			reply, err := redistest.Do(m.Addr(), "PUBSUB", "SHARDNUMSUB", name)
			if err != nil {
				t.Fatal(err)
			}
			if r, _ := reply.([]any); len(r) == 2 {
				c, _ := r[1].(int64)
				n += c
			}
		}
	}
	return n
}

// roomUnchanged proves that room has not changed since version v: its
// stored version, which every change moves before its event is published,
// is still v.
func roomUnchanged(t *testing.T, h *harness, room string, v uint64) {
	t.Helper()
	var got struct{ V uint64 }
	mustJSON(t, h.mustAPI("GET", "/v1/rooms/"+url.PathEscape(room)+"/count", nil), &got)
	if got.V != v {
		t.Fatalf("room %s is at v%d, want v%d: something changed", room, got.V, v)
	}
}
