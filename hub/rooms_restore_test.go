package hub

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
)

// restarted plays a restart of a node whose rooms live in memory and
// whose store outlives it: bob and carol joined rooms a and b on a node
// that stopped, their sessions in their grace. It returns a hub on the
// same store with a new room store, restored from the records as a node
// on the embedded store starts.
func restarted(t *testing.T) (h *Hub, advance func(d time.Duration, keep *Client), rooms RoomStore) {
	t.Helper()
	store := memstore.New()
	old, clock := newHub(t, func(c *Config) { c.Store, c.Rooms = store, memstore.NewRooms() })
	bob, _ := member(t, old, "bob", "a")
	carol, _ := member(t, old, "carol", "b")
	old.Disconnect(bob)
	old.Disconnect(carol)
	old.Close()

	rs := memstore.NewRooms()
	states, err := store.Load(context.Background(), []string{"bob", "carol"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := RestoreRooms(context.Background(), rs, []presence.UserState{states["bob"], states["carol"]}, 100, clock.Now())
	if err != nil || r.Members != 2 || r.Refused != 0 {
		t.Fatalf("restored %+v, %v", r, err)
	}
	h, _ = newHub(t, func(c *Config) { c.Store, c.Rooms, c.Clock = store, rs, clock })
	return h, func(d time.Duration, keep *Client) { settleFor(h, clock, d, keep) }, rs
}

// TestRestoredRoomsOutliveTheRestart: after the restart, a viewer of room
// a finds bob in it; bob's device reconnecting within the grace and
// joining again is a second connection of a member (room_update), never a
// leave and a join; carol, who does not come back, leaves room b when her
// grace ends, through her session's owed leave.
func TestRestoredRoomsOutliveTheRestart(t *testing.T) {
	h, advance, rs := restarted(t)
	alice, view := member(t, h, "alice", "a")
	if got := members(t, rs, "a"); got != "alice bob " {
		t.Fatalf("room a after the restart: %s", got)
	}
	if got := members(t, rs, "b"); got != "carol " {
		t.Fatalf("room b after the restart: %s", got)
	}
	bob, _ := member(t, h, "bob", "a")
	poll.Until(t, "bob's room_update", func() bool { return len(view.roomFrames("room_update")) == 1 })
	if j := view.roomFrames("room_join"); len(j) != 0 {
		t.Fatalf("bob's return was seen as a join: %+v", j)
	}

	advance(6*time.Second, alice) // the grace is 5s
	poll.Until(t, "carol's leave", func() bool { return members(t, rs, "b") == "" })
	if got := members(t, rs, "a"); got != "alice bob " {
		t.Fatalf("room a after the grace: %s", got)
	}
	page, err := rs.RoomMembers(context.Background(), "a", "alice", 1)
	if err != nil {
		t.Fatal(err)
	}
	if c := page.Members[0].Connections; len(c) != 1 || c[0].SessionID != bob.SessionID {
		t.Fatalf("bob's connections after the grace: %+v, want only %s", c, bob.SessionID)
	}
	poll.Until(t, "bob's old connection's end", func() bool { return len(view.roomFrames("room_update")) == 2 })
	if l := view.roomFrames("room_leave"); len(l) != 0 {
		t.Fatalf("alice saw %+v", l)
	}
}

// TestRestoreKeepsTheMemberLimitAndInvisibility: members are restored as
// a join writes them, invisible users invisible, and a room at its limit
// takes no new member.
func TestRestoreKeepsTheMemberLimitAndInvisibility(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	user := func(id string, invisible bool, sessions ...string) presence.UserState {
		st := presence.UserState{UserID: id, Invisible: invisible, Version: 7}
		for _, s := range sessions {
			st.Sessions = append(st.Sessions, presence.Session{ID: s, Device: "web", Rooms: []string{"doc"}})
		}
		return st
	}
	rs := memstore.NewRooms()
	r, err := RestoreRooms(context.Background(), rs, []presence.UserState{
		user("alice", false, "a1", "a2"), user("bob", true, "b1"), user("carol", false, "c1"),
	}, 2, t0)
	if err != nil || r.Members != 2 || r.Refused != 1 || r.Room != "doc" {
		t.Fatalf("restored %+v, %v; want 2 members and carol refused", r, err)
	}
	page, err := rs.RoomMembers(context.Background(), "doc", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if page.Count != 2 || page.Visible != 1 {
		t.Fatalf("doc counts %d members, %d visible; want alice and an invisible bob", page.Count, page.Visible)
	}
	a, b := page.Members[0], page.Members[1]
	if len(a.Connections) != 2 || string(a.Connections[0].Meta) != "{}" || a.Connections[1].SessionID != "a2" || !a.JoinedAt.Equal(t0) || a.Invisible {
		t.Fatalf("alice restored as %+v", a)
	}
	if !b.Invisible || b.UserV != 7 {
		t.Fatalf("bob restored as %+v", b)
	}
}
