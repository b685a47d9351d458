package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// TestRoomsOutliveARestart restarts a node on its data file with bob in
// room a and carol in room b. The restart keeps their memberships for
// their sessions' grace, silently: a viewer joining a finds bob there,
// bob's device coming back and joining again is a room_update (no webhook
// event, no leave and join), and carol, who does not come back, leaves b
// when her grace ends, with room.member_left and room.vacated.
func TestRoomsOutliveARestart(t *testing.T) {
	k, cfg := withHooksOnDir(t)
	h := start(t, cfg)
	h.join(h.dial("bob", "web"), "a", map[string]any{"mode": "editing"})
	h.join(h.dial("carol", "web"), "b", nil)
	k.expect("user.online bob", "room.occupied @a", "room.member_joined bob @a",
		"user.online carol", "room.occupied @b", "room.member_joined carol @b")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	r := start(t, cfg)
	alice := r.dial("alice", "web")
	st := r.join(alice, "a", nil)
	if memberIDs(st.Members) != "alice,bob" {
		t.Fatalf("room a after the restart: %+v", st.Members)
	}
	old := st.Members[1]
	if len(old.Connections) != 1 || old.Connections[0].Device == nil || *old.Connections[0].Device != "web" || string(old.Connections[0].Meta) != "{}" {
		t.Fatalf("bob after the restart: %+v; want his session in its grace, meta not kept", old)
	}
	k.expect("user.online alice", "room.member_joined alice @a")

	bob := r.dial("bob", "web")
	r.join(bob, "a", map[string]any{"mode": "viewing"})
	if u := r.roomMsg(alice, protocol.TypeRoomUpdate); u.Member.UserID != "bob" || len(u.Member.Connections) != 2 {
		t.Fatalf("bob's return: %+v", u)
	}
	r.advance(6*time.Second, 500*time.Millisecond, alice, bob) // the grace is 5s
	if u := r.roomMsg(alice, protocol.TypeRoomUpdate); u.Member.UserID != "bob" || len(u.Member.Connections) != 1 || metaOf(t, u.Member.Connections[0])["mode"] != "viewing" {
		t.Fatalf("bob's old session's end: %+v", u)
	}
	r.quiet(alice)
	k.expect("room.member_left carol @b", "room.vacated @b", "user.offline carol")
	// Nothing about bob or room a on its way: the next event is dave's.
	r.online("dave", "web")
	k.expect("user.online dave")
}

// TestRoomsOfSessionsEndedAtOpeningAreLeft: a node without grace ends the
// sessions a killed run left when it opens the file; the rooms those
// sessions were in are left at once, with room.member_left and
// room.vacated, through the leaves their records owe.
func TestRoomsOfSessionsEndedAtOpeningAreLeft(t *testing.T) {
	k, hooks := withHooks(t)
	dir := t.TempDir()
	// What a killed run leaves: carol's session in room b, not ended.
	db, err := boltstore.Open(filepath.Join(dir, server.DataFile), boltstore.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Update(context.Background(), "carol", func(st *presence.UserState) error {
		before := st.Fold()
		err := st.Connect(presence.Session{ID: "c1", Device: "web", ActiveAt: t0, LastSeen: t0, Rooms: []string{"b"}})
		st.Settle(before, t0, presence.Timing{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	r := start(t, func(c *server.Config) {
		hooks(c)
		c.DataDir, c.OfflineGrace = dir, -1
	})
	k.expect("room.member_left carol @b", "room.vacated @b")
	r.online("dave", "web")
	k.expect("user.online dave")
}
