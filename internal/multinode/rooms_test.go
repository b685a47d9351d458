package multinode_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/protocol"
)

// storeRoom reads room through n's HTTP API with the API key: every member,
// the count and the version, as the store has them.
func storeRoom(t *testing.T, n *node, room string) protocol.RoomMessage {
	t.Helper()
	code, body := api(t, n, "GET", "/v1/rooms/"+room+"/members?limit=1000", nil)
	var page protocol.RoomMessage
	if code != http.StatusOK {
		t.Fatalf("GET members of %s on %s = %d %s", room, n.name, code, body)
	}
	mustJSON(t, body, &page)
	page.Type = protocol.TypeRoomMembers
	return page
}

func join(t *testing.T, c *client.Conn, room string, meta any) protocol.RoomMessage {
	t.Helper()
	st, err := c.JoinRoom(ctxFor(t, 5*time.Second), room, meta)
	if err != nil || st.Type != protocol.TypeRoomState {
		t.Fatalf("join %s: %+v, %v", room, st, err)
	}
	return st
}

// TestRoomsAcrossNodes: three members of one room on three processes see
// each other join, change their meta, move their cursor and leave, and
// end with the room as the store has it.
func TestRoomsAcrossNodes(t *testing.T) {
	a, b, c := threeNodes(t)
	within := 5 * time.Second
	alice := dial(t, a, "alice", "web")
	if st := join(t, alice, "doc:1", map[string]any{"mode": "viewing"}); st.Count != 1 {
		t.Fatalf("alice's room_state = %+v", st)
	}
	bob := dial(t, b, "bob", "web")
	st := join(t, bob, "doc:1", nil)
	if st.Count != 2 || len(st.Members) != 2 || st.Members[0].UserID != "alice" || string(st.Members[0].Connections[0].Meta) != `{"mode":"viewing"}` {
		t.Fatalf("bob's room_state on B = %+v", st)
	}
	if j := roomMsg(t, alice, protocol.TypeRoomJoin, within); j.Member.UserID != "bob" || j.Count != 2 || j.V != st.V {
		t.Fatalf("alice got %+v (bob's state v%d)", j, st.V)
	}
	carol := dial(t, c, "carol", "web")
	st = join(t, carol, "doc:1", nil)
	if st.Count != 3 || len(st.Members) != 3 {
		t.Fatalf("carol's room_state on C = %+v", st)
	}
	views := map[*client.Conn]*client.RoomView{carol: client.NewRoomView(st)}
	for _, w := range []*client.Conn{alice, bob} {
		if j := roomMsg(t, w, protocol.TypeRoomJoin, within); j.Member.UserID != "carol" || j.Count != 3 || j.V != st.V {
			t.Fatalf("room_join of carol = %+v", j)
		}
	}
	page, err := alice.RoomMembers(ctxFor(t, within), "doc:1", "", 0)
	if err != nil || page.Count != 3 {
		t.Fatalf("alice's room_members = %+v, %v", page, err)
	}
	views[alice] = client.NewRoomView(page)

	if err := bob.UpdateRoomMeta(ctxFor(t, within), "doc:1", map[string]any{"mode": "editing"}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*client.Conn{alice, carol, bob} {
		u := roomMsg(t, w, protocol.TypeRoomUpdate, within)
		if u.Member.UserID != "bob" || string(u.Member.Connections[0].Meta) != `{"mode":"editing"}` {
			t.Fatalf("room_update = %+v", u)
		}
		if v := views[w]; v != nil {
			v.Apply(u)
		}
	}
	if err := bob.Cursor(ctxFor(t, within), "doc:1", map[string]any{"x": 7}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*client.Conn{alice, carol} {
		m := roomMsg(t, w, protocol.TypeCursor, within)
		if m.UserID != "bob" || string(m.Cursor) != `{"x":7}` {
			t.Fatalf("cursor = %+v", m)
		}
	}

	if err := bob.LeaveRoom(ctxFor(t, within), "doc:1"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*client.Conn{alice, carol} {
		l := roomMsg(t, w, protocol.TypeRoomLeave, within)
		if l.UserID != "bob" || l.Count != 2 {
			t.Fatalf("room_leave = %+v", l)
		}
		views[w].Apply(l)
	}
	want := client.NewRoomView(storeRoom(t, c, "doc:1")).String()
	if want != `alice={"mode":"viewing"} carol={}` {
		t.Fatalf("store = %s", want)
	}
	for w, v := range views {
		if v.String() != want {
			t.Fatalf("%p's view = %s, want %s", w, v, want)
		}
	}
}

// summaries follows one member of a large room through its room_summary
// messages: the member ids they lead to, and the newest.
type summaries struct {
	ids     map[string]bool
	updated map[string]bool
	last    protocol.RoomMessage
}

func (s *summaries) apply(t *testing.T, m protocol.RoomMessage) {
	t.Helper()
	if m.V <= s.last.V {
		t.Fatalf("summary v%d after v%d", m.V, s.last.V)
	}
	for _, u := range m.Joined {
		s.ids[u] = true
	}
	for _, u := range m.Left {
		delete(s.ids, u)
	}
	for _, u := range m.Updated {
		s.updated[u] = true
	}
	if m.Truncated {
		t.Fatalf("summary truncated: %+v", m)
	}
	s.last = m
}

func (s *summaries) String() string {
	var out []string
	for u := range s.ids {
		out = append(out, u)
	}
	sort.Strings(out)
	b, _ := json.Marshal(out)
	return string(b)
}

// TestLargeRoomSummariesAcrossNodes: a room above --room-announce-max has
// members on three processes; each node builds its members' room_summary
// from the room's events, and they agree with the store: the summaries
// lead each member from what it knew to the room's members, and the last
// one carries the store's count and version.
func TestLargeRoomSummariesAcrossNodes(t *testing.T) {
	url := sharedCluster(t).URL()
	flags := []string{"--room-announce-max", "2", "--room-summary-interval", "200ms"}
	a, b, c := startNode(t, "A", url, flags...), startNode(t, "B", url, flags...), startNode(t, "C", url, flags...)
	within := 5 * time.Second

	u1 := dial(t, a, "u1", "web")
	join(t, u1, "hall", nil)
	u2 := dial(t, b, "u2", "web")
	join(t, u2, "hall", nil)
	if j := roomMsg(t, u1, protocol.TypeRoomJoin, within); j.Member.UserID != "u2" {
		t.Fatalf("room_join = %+v", j)
	}
	// From the third member on, the room is large: no more joins, and a
	// room_state lists the first two members only.
	u3 := dial(t, c, "u3", "web")
	if st := join(t, u3, "hall", nil); st.Count != 3 || len(st.Members) != 2 || st.Next == nil {
		t.Fatalf("u3's room_state = %+v", st)
	}
	type follower struct {
		name string
		c    *client.Conn
		s    *summaries
	}
	var followers []follower
	for i, w := range []*client.Conn{u1, u2, u3} {
		followers = append(followers, follower{fmt.Sprint("u", i+1), w,
			&summaries{ids: map[string]bool{"u1": true, "u2": true, "u3": true}, updated: map[string]bool{}}})
	}
	u4 := dial(t, a, "u4", "web")
	join(t, u4, "hall", nil)
	join(t, dial(t, b, "u5", "web"), "hall", nil)
	join(t, dial(t, c, "u6", "web"), "hall", nil)
	if err := u2.UpdateRoomMeta(ctxFor(t, within), "hall", map[string]any{"mode": "editing"}); err != nil {
		t.Fatal(err)
	}
	if err := u4.LeaveRoom(ctxFor(t, within), "hall"); err != nil {
		t.Fatal(err)
	}
	store := storeRoom(t, b, "hall")
	want := client.NewRoomView(store)
	if store.Count != 5 || len(want.Members) != 5 {
		t.Fatalf("store = %+v", store)
	}
	for _, f := range followers {
		w, s := f.c, f.s
		deadline := time.Now().Add(10 * time.Second)
		for len(s.ids) != len(want.Members) || s.last.V != store.V {
			if time.Now().After(deadline) {
				t.Fatalf("%s: summaries lead to %s at v%d; store v%d", f.name, s, s.last.V, store.V)
			}
			s.apply(t, roomMsg(t, w, protocol.TypeRoomSummary, within))
		}
		for u := range want.Members {
			if !s.ids[u] {
				t.Fatalf("%s: summaries lead to %s, missing %s", f.name, s, u)
			}
		}
		if s.last.Count != store.Count || !s.updated["u2"] {
			t.Fatalf("%s: last summary %+v (store count %d); updated %v", f.name, s.last, store.Count, s.updated)
		}
	}
	// Nothing more is due: every node sent what it had.
	for _, f := range followers {
		if m, err := f.c.Next(ctxFor(t, 600*time.Millisecond)); err == nil {
			t.Fatalf("%s got %s after the last summary", f.name, m.Raw)
		}
	}
}
