package hub

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/fakeclock"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// cut takes node's subscription of topic off the bus: publishes stop
// reaching it, as during a lost connection.
func (b *sharedBus) cut(node int, topic string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down == nil {
		b.down = map[string]map[int]func([]byte){}
	}
	if b.down[topic] == nil {
		b.down[topic] = map[int]func([]byte){}
	}
	b.down[topic][node] = b.subs[topic][node]
	delete(b.subs[topic], node)
}

// restore subscribes node to topic again and tells it so with nil, as the
// Redis bus does after a reconnect.
func (b *sharedBus) restore(node int, topic string) {
	b.mu.Lock()
	deliver := b.down[topic][node]
	delete(b.down[topic], node)
	b.subs[topic][node] = deliver
	b.mu.Unlock()
	deliver(nil)
}

// twoNodes starts two hubs on one memory store, room store and shared bus.
func twoNodes(t *testing.T, mutate func(*Config)) (a, b *Hub, bus *sharedBus, rooms *memstore.Rooms, clock *fakeclock.Clock) {
	sn := newSharedNodes()
	return sn.node(t, 1, mutate), sn.node(t, 2, mutate), sn.bus, sn.rooms, sn.clock
}

// viewOf is r's view of its room (see client.RoomView).
func viewOf(t *testing.T, r *recorder) *client.RoomView {
	t.Helper()
	r.mu.Lock()
	frames := slices.Clone(r.frames)
	r.mu.Unlock()
	rv := client.NewRoomView(protocol.RoomMessage{})
	for _, f := range frames {
		var m protocol.RoomMessage
		if json.Unmarshal(f, &m) == nil {
			rv.Apply(m)
		}
	}
	return rv
}

// storeView is the room as the store has it, in client.RoomView's form.
func storeView(t *testing.T, h *Hub, room string) string {
	t.Helper()
	b, err := h.RoomMembers(context.Background(), "", room, "", MaxRoomPage)
	if err != nil {
		t.Fatal(err)
	}
	var page protocol.RoomMessage
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	page.Type = protocol.TypeRoomMembers
	return client.NewRoomView(page).String()
}

// TestRoomResyncAfterSubscriptionLoss: node B's subscription of a room
// breaks while node A's members join, update their meta and leave; when it
// comes back, B re-reads the room and its member ends with exactly the
// room's membership, through events it orders by version.
func TestRoomResyncAfterSubscriptionLoss(t *testing.T) {
	a, b, bus, rooms, _ := twoNodes(t, nil)
	ctx := context.Background()
	carol, _ := member(t, a, "carol", "doc") // vic learns of carol from his room_state only
	_, vr := member(t, b, "vic", "doc")
	alice, _ := member(t, a, "alice", "doc")
	poll.Until(t, "vic to see alice join", func() bool { return len(vr.roomFrames("room_join")) == 1 })

	bus.cut(2, "r:doc")
	dave, _ := member(t, a, "dave", "doc")
	if err := a.UpdateRoomMeta(ctx, alice, "doc", json.RawMessage(`{"mode":"editing"}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.LeaveRoom(ctx, carol, "doc"); err != nil {
		t.Fatal(err)
	}
	bob, _ := member(t, a, "bob", "doc") // joins and leaves: nothing to tell
	if err := a.LeaveRoom(ctx, bob, "doc"); err != nil {
		t.Fatal(err)
	}
	erin, _ := member(t, a, "erin", "doc")
	if err := a.UpdateRoomMeta(ctx, erin, "doc", json.RawMessage(`{"mode":"viewing"}`)); err != nil {
		t.Fatal(err)
	}
	frames := vr.count()
	if got := viewOf(t, vr).String(); got != `alice={} carol={} vic={}` {
		t.Fatalf("vic's view during the outage = %s", got)
	}

	bus.restore(2, "r:doc")
	want := storeView(t, a, "doc")
	if want != `alice={"mode":"editing"} dave={} erin={"mode":"viewing"} vic={}` {
		t.Fatalf("store = %s", want)
	}
	poll.Until(t, "vic's view to match the store", func() bool { return viewOf(t, vr).String() == want })
	if n := vr.count() - frames; n != 4 { // dave joins, alice updates, carol leaves, erin joins
		t.Fatalf("vic got %d frames after the resubscription, want 4", n)
	}
	if j := vr.roomFrames("room_join"); j[len(j)-1].Count != 4 {
		t.Fatalf("vic's last join = %+v", j[len(j)-1])
	}
	if l := vr.roomFrames("room_leave"); len(l) != 1 || l[0].UserID != "carol" || l[0].Count != 4 {
		t.Fatalf("vic's leaves = %+v", l)
	}

	// Events go on, and one published before the read but delivered after
	// it (dave's join at an older version) is stale.
	page, _ := rooms.RoomMembers(ctx, "doc", "", 10)
	old, _ := json.Marshal(roomEvent{Kind: kindMember, User: "dave", Member: page.Members[1], Count: 2, Visible: 2, V: page.Members[1].V - 1})
	b.receiveRoom("doc", old)
	if err := a.LeaveRoom(ctx, dave, "doc"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "vic to see dave leave", func() bool { return len(vr.roomFrames("room_leave")) == 2 })
	if got, want := viewOf(t, vr).String(), storeView(t, a, "doc"); got != want || vr.count()-frames != 5 {
		t.Fatalf("vic's view = %s after %d frames, store = %s", got, vr.count()-frames, want)
	}
}

// TestLargeRoomResyncIsSummarised: in a room above RoomAnnounceMax, what
// node B missed reaches its members in the next room_summary, with the
// store's count and version.
func TestLargeRoomResyncIsSummarised(t *testing.T) {
	a, b, bus, rooms, clock := twoNodes(t, func(c *Config) { c.RoomAnnounceMax = 2 })
	ctx := context.Background()
	carol, _ := member(t, a, "carol", "big")
	_, vr := member(t, b, "vic", "big")
	alice, _ := member(t, a, "alice", "big") // 3 members: large
	clock.Advance(2 * time.Second)
	b.Tick(ctx)
	poll.Until(t, "vic's first summary", func() bool { return len(vr.roomFrames("room_summary")) == 1 })

	bus.cut(2, "r:big")
	member(t, a, "dave", "big")
	if err := a.UpdateRoomMeta(ctx, alice, "big", json.RawMessage(`{"mode":"editing"}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.LeaveRoom(ctx, carol, "big"); err != nil {
		t.Fatal(err)
	}
	bus.restore(2, "r:big")
	page, _ := rooms.RoomMembers(ctx, "big", "", 0)
	poll.Until(t, "the resync's summary to be due", func() bool {
		b.rooms.sumMu.Lock()
		defer b.rooms.sumMu.Unlock()
		return b.rooms.sumQ.Len() == 1
	})
	clock.Advance(2 * time.Second)
	b.Tick(ctx)
	poll.Until(t, "vic's second summary", func() bool { return len(vr.roomFrames("room_summary")) == 2 })
	s := vr.roomFrames("room_summary")[1]
	if !slices.Equal(s.Joined, []string{"dave"}) || !slices.Equal(s.Left, []string{"carol"}) || !slices.Equal(s.Updated, []string{"alice"}) ||
		s.Truncated || s.Count != page.Visible || s.V != page.V {
		t.Fatalf("summary = %+v; store count %d v%d", s, page.Visible, page.V)
	}
}

// asyncNodeBus is a nodeBus that says it subscribes asynchronously and
// never confirms a subscription by itself: the test delivers the nil.
type asyncNodeBus struct{ nodeBus }

func (asyncNodeBus) SubscribesAsync() bool { return true }

// TestRoomResyncOfAJoinThatStoppedWaiting: a join that gave up waiting
// for its room's subscription has the room re-read when it takes effect.
func TestRoomResyncOfAJoinThatStoppedWaiting(t *testing.T) {
	_, b, _, rooms, _ := twoNodes(t, func(c *Config) {
		c.Bus = asyncNodeBus{c.Bus.(nodeBus)}
		c.RoomActiveWait = 20 * time.Millisecond
	})
	_, vr := member(t, b, "vic", "doc")
	rt := b.rooms.get("doc")
	if !rt.active.late.Load() {
		t.Fatal("the join did not give up waiting for the subscription")
	}
	// The subscription takes effect after bob joined unseen.
	ctx := context.Background()
	if _, err := rooms.UpdateRoom(ctx, "doc", "bob", func(*presence.RoomMember, int) (*presence.RoomMember, error) {
		return &presence.RoomMember{UserID: "bob", Connections: []presence.RoomConn{{SessionID: "s", Meta: json.RawMessage(`{}`)}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	b.roomDeliver("doc", rt.active)(nil)
	poll.Until(t, "vic to see bob", func() bool { return len(vr.roomFrames("room_join")) == 1 })
	if got, want := viewOf(t, vr).String(), storeView(t, b, "doc"); got != want {
		t.Fatalf("vic's view = %s, store = %s", got, want)
	}
}
