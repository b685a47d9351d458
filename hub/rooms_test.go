package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/fakeclock"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// roomFrames returns the room messages of type typ that r received.
func (r *recorder) roomFrames(typ string) []protocol.RoomMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []protocol.RoomMessage
	for _, f := range r.frames {
		var m protocol.RoomMessage
		if json.Unmarshal(f, &m) == nil && m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frames)
}

// hidePolicy hides targets from viewers: hidden[viewer][target].
type hidePolicy map[string]map[string]bool

func (p hidePolicy) Level(viewer, target string) presence.Level {
	if p[viewer][target] {
		return presence.LevelHidden
	}
	return presence.LevelFull
}

// restricting is hidePolicy with the Restricter ability.
type restricting struct{ hidePolicy }

func (p restricting) Restricted(target string) bool {
	for _, hidden := range p.hidePolicy {
		if hidden[target] {
			return true
		}
	}
	return false
}

func withRooms(mutate func(*Config)) func(*Config) {
	return func(c *Config) {
		c.Rooms = memstore.NewRooms()
		if mutate != nil {
			mutate(c)
		}
	}
}

// member opens a connection of user that may join every room and joins room.
func member(t testing.TB, h *Hub, user, room string) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	c := h.Open(user, "web", time.Time{}, rec)
	c.AllowRooms([]string{"*"})
	if err := h.JoinRoom(context.Background(), c, room, nil, nil); err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func TestPolicyHidesMembersAndTheirCursors(t *testing.T) {
	h, clock := newHub(t, withRooms(func(c *Config) {
		c.Policy = hidePolicy{"alice": {"carol": true}}
	}))
	ctx := context.Background()
	alice, ar := member(t, h, "alice", "doc")
	_, br := member(t, h, "bob", "doc")
	carol, _ := member(t, h, "carol", "doc")
	poll.Until(t, "bob to see carol join", func() bool { return len(br.roomFrames("room_join")) == 1 })
	if err := h.Cursor(ctx, carol, "doc", json.RawMessage(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "bob to get carol's cursor", func() bool { return len(br.roomFrames("cursor")) == 1 })
	clock.Advance(time.Second)
	if err := h.RoomMembersFor(ctx, alice, "doc", "", 10, nil); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "alice's page", func() bool { return len(ar.roomFrames("room_members")) == 1 })
	// alice saw bob join and nothing of carol: not her join, not her
	// cursor, not in the page.
	if j := ar.roomFrames("room_join"); len(j) != 1 || j[0].Member.UserID != "bob" {
		t.Fatalf("alice's joins = %+v", j)
	}
	if n := len(ar.roomFrames("cursor")); n != 0 {
		t.Fatalf("alice got %d cursors", n)
	}
	if p := ar.roomFrames("room_members")[0]; len(p.Members) != 2 || p.Members[0].UserID != "alice" || p.Members[1].UserID != "bob" {
		t.Fatalf("alice's page = %+v", p)
	}
	// carol leaving is nothing to alice either.
	if err := h.LeaveRoom(ctx, carol, "doc"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "bob to see carol leave", func() bool { return len(br.roomFrames("room_leave")) == 1 })
	if n := len(ar.roomFrames("room_leave")); n != 0 {
		t.Fatalf("alice got %d leaves", n)
	}
}

func TestSummaryHidesByPolicyAndIsCappedWithAFlag(t *testing.T) {
	hide := hidePolicy{"alice": {"u007": true}}
	t.Run("Policy", func(t *testing.T) { testSummaryPolicy(t, hide) })
	t.Run("Restricter", func(t *testing.T) { testSummaryPolicy(t, restricting{hide}) })
}

func testSummaryPolicy(t *testing.T, p Policy) {
	h, clock := newHub(t, withRooms(func(c *Config) {
		c.RoomAnnounceMax = 1
		c.Policy = p
	}))
	_, ar := member(t, h, "alice", "big")
	_, br := member(t, h, "bob", "big")
	for i := range MaxSummaryDelta + 50 {
		member(t, h, fmt.Sprintf("u%03d", i), "big")
	}
	clock.Advance(2 * time.Second)
	h.Tick(context.Background())
	poll.Until(t, "the summaries", func() bool {
		return len(ar.roomFrames("room_summary")) == 1 && len(br.roomFrames("room_summary")) == 1
	})
	as, bs := ar.roomFrames("room_summary")[0], br.roomFrames("room_summary")[0]
	// Deltas in the order of the changes: bob (who made the room large),
	// then u000, u001, …
	if bs.Count != 152 || len(bs.Joined) != MaxSummaryDelta || !bs.Truncated || bs.Joined[0] != "bob" || bs.Joined[8] != "u007" {
		t.Fatalf("bob's summary: count %d, %d joined, truncated %v", bs.Count, len(bs.Joined), bs.Truncated)
	}
	if as.Count != 152 || len(as.Joined) != MaxSummaryDelta || !as.Truncated || as.Joined[7] != "u006" || as.Joined[8] != "u008" {
		t.Fatalf("alice's summary: count %d, joined %v", as.Count, as.Joined[:10])
	}
}

func TestSummaryOfAMassJoinIsCut(t *testing.T) {
	h, clock := newHub(t, withRooms(func(c *Config) { c.RoomAnnounceMax = 1 }))
	_, ar := member(t, h, "alice", "big")
	for i := range summaryScan + 20 {
		member(t, h, fmt.Sprintf("u%03d", i), "big")
	}
	clock.Advance(2 * time.Second)
	h.Tick(context.Background())
	poll.Until(t, "the summary", func() bool { return len(ar.roomFrames("room_summary")) == 1 })
	s := ar.roomFrames("room_summary")[0]
	if s.Count != summaryScan+21 || len(s.Joined) != MaxSummaryDelta || !s.Truncated {
		t.Fatalf("summary: count %d, %d joined, truncated %v", s.Count, len(s.Joined), s.Truncated)
	}
}

func TestStaleRoomEventsAreDropped(t *testing.T) {
	h, _ := newHub(t, withRooms(nil))
	_, ar := member(t, h, "alice", "doc")
	m := &presence.RoomMember{UserID: "bob", Connections: []presence.RoomConn{{SessionID: "s1"}, {SessionID: "s2"}}}
	send := func(ev roomEvent) {
		b, _ := json.Marshal(ev)
		h.receiveRoom("doc", b)
	}
	// bob's second tab (v11) overtakes his join (v10) on the bus.
	send(roomEvent{Kind: kindMember, User: "bob", Was: true, Member: m, Count: 2, Visible: 2, V: 11})
	send(roomEvent{Kind: kindMember, User: "bob", Member: &presence.RoomMember{UserID: "bob", Connections: m.Connections[:1]}, Count: 2, Visible: 2, V: 10})
	send(roomEvent{Kind: kindMember, User: "bob", Was: true, Member: m, Count: 2, Visible: 2, V: 11})
	poll.Until(t, "the update", func() bool { return len(ar.roomFrames("room_update")) == 1 })
	if n := ar.count(); n != 2 { // room_state and one update
		t.Fatalf("alice got %d frames", n)
	}
}

// sharedNodes is what several hubs share, as nodes share Redis: a memory
// store, a room store, a bus and a fake clock.
type sharedNodes struct {
	store *memstore.Store
	rooms *memstore.Rooms
	bus   *sharedBus
	clock *fakeclock.Clock
}

func newSharedNodes() *sharedNodes {
	return &sharedNodes{store: memstore.New(), rooms: memstore.NewRooms(),
		bus:   &sharedBus{subs: map[string]map[int]func([]byte){}},
		clock: fakeclock.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))}
}

// node starts hub number n on what sn shares; mutate may change its
// configuration further.
func (sn *sharedNodes) node(t *testing.T, n int, mutate func(*Config)) *Hub {
	h, _ := newHub(t, func(c *Config) {
		c.Store, c.Rooms, c.Bus, c.Clock, c.Node = sn.store, sn.rooms, nodeBus{sn.bus, n}, sn.clock, fmt.Sprint("n", n)
		if mutate != nil {
			mutate(c)
		}
	})
	return h
}

// sharedBus is a bus several hubs share, as nodes share Redis.
type sharedBus struct {
	mu   sync.Mutex
	subs map[string]map[int]func([]byte)
	down map[string]map[int]func([]byte) // cut off, see cut
}

type nodeBus struct {
	b    *sharedBus
	node int
}

func (n nodeBus) Publish(_ context.Context, topic string, payload []byte) error {
	n.b.mu.Lock()
	var fns []func([]byte)
	for _, f := range n.b.subs[topic] {
		fns = append(fns, f)
	}
	n.b.mu.Unlock()
	for _, f := range fns {
		f(payload)
	}
	return nil
}

func (n nodeBus) Subscribe(topic string, deliver func([]byte)) error {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	if n.b.subs[topic] == nil {
		n.b.subs[topic] = map[int]func([]byte){}
	}
	n.b.subs[topic][n.node] = deliver
	return nil
}

func (n nodeBus) Unsubscribe(topic string) error {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	delete(n.b.subs[topic], n.node)
	return nil
}

func TestDeadNodesSessionsLeaveTheirRoomsWhenReaped(t *testing.T) {
	sn := newSharedNodes()
	dead, alive := sn.node(t, 1, nil), sn.node(t, 2, nil)
	clock := sn.clock
	alice, ar := member(t, alive, "alice", "doc")
	member(t, dead, "bob", "doc")
	poll.Until(t, "alice to see bob", func() bool { return len(ar.roomFrames("room_join")) == 1 })
	// Node 1 dies: its connections are never closed. Node 2's reaper ends
	// bob's session at its stored expiry, and with it his membership.
	dead.Close()
	ctx := context.Background()
	for range 32 {
		clock.Advance(time.Second)
		alive.Touch(alice)
		alive.Tick(ctx)
	}
	poll.Until(t, "alice to see bob leave", func() bool { return len(ar.roomFrames("room_leave")) == 1 })
	page, _ := sn.rooms.RoomMembers(ctx, "doc", "", 10)
	if page.Count != 1 || page.Members[0].UserID != "alice" {
		t.Fatalf("doc = %+v", page)
	}
}
