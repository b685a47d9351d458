package server_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// TestRoomCountLeavesOutABlockingMember: a user blocked by a room member
// is told counts without that member, in every frame and read, so that the
// count does not reveal the block; everyone else counts the member.
func TestRoomCountLeavesOutABlockingMember(t *testing.T) {
	h := start(t, nil)
	h.mustAPI("PUT", "/v1/users/alice/blocks", map[string]any{"blocks": []string{"bob"}})
	conns := h.inRoom("doc:1", "alice", "carol")
	carol := conns[1]
	bob := h.dial("bob", "web")
	st := h.join(bob, "doc:1", nil)
	if memberIDs(st.Members) != "bob,carol" || st.Count != 2 {
		t.Fatalf("bob's room_state = %v count %d, want bob,carol count 2", memberIDs(st.Members), st.Count)
	}
	if j := h.roomMsg(carol, protocol.TypeRoomJoin); j.Count != 3 {
		t.Fatalf("carol's count after bob joined = %d, want 3", j.Count)
	}
	dave := h.dial("dave", "web")
	h.join(dave, "doc:1", nil)
	if j := h.roomMsg(bob, protocol.TypeRoomJoin); j.Member.UserID != "dave" || j.Count != 3 {
		t.Fatalf("bob's room_join of dave = %s count %d, want count 3", j.Member.UserID, j.Count)
	}
	if j := h.roomMsg(carol, protocol.TypeRoomJoin); j.Count != 4 {
		t.Fatalf("carol's count after dave joined = %d, want 4", j.Count)
	}
	page, err := bob.RoomMembers(ctx5(t), "doc:1", "", 100)
	if err != nil || page.Count != 3 || memberIDs(page.Members) != "bob,carol,dave" {
		t.Fatalf("bob's room_members = %+v %v", page, err)
	}
	tok := signAt(t, "bob", t0.Add(time.Hour))
	path := "/v1/rooms/" + url.PathEscape("doc:1")
	var count struct{ Count int }
	mustJSON(t, h.mustAPIAs("GET", path+"/count", tok), &count)
	if count.Count != 3 {
		t.Fatalf("bob's HTTP count = %d, want 3", count.Count)
	}
	var members struct {
		Members []protocol.RoomMember
		Count   int
	}
	mustJSON(t, h.mustAPIAs("GET", path+"/members", tok), &members)
	if members.Count != 3 || memberIDs(members.Members) != "bob,carol,dave" {
		t.Fatalf("bob's HTTP members = %+v", members)
	}
	// Every page tells the same count: one that changed from page to page
	// would point at the blocker's page.
	after := ""
	for range 3 {
		p, err := bob.RoomMembers(ctx5(t), "doc:1", after, 1)
		if err != nil || p.Count != 3 {
			t.Fatalf("bob's room_members page after %q = %+v %v, want count 3", after, p, err)
		}
		mustJSON(t, h.mustAPIAs("GET", path+"/members?limit=1&after="+url.QueryEscape(after), tok), &members)
		if members.Count != 3 {
			t.Fatalf("bob's HTTP members page after %q = %+v, want count 3", after, members)
		}
		if p.Next == nil {
			break
		}
		after = *p.Next
	}
	mustJSON(t, h.mustAPIAs("GET", path+"/count", ""), &count)
	if count.Count != 4 {
		t.Fatalf("the API key's count = %d, want 4", count.Count)
	}
	// Once alice leaves, bob's count and everyone's agree again.
	if err := conns[0].LeaveRoom(ctx5(t), "doc:1"); err != nil {
		t.Fatal(err)
	}
	if l := h.roomMsg(carol, protocol.TypeRoomLeave); l.Count != 3 {
		t.Fatalf("carol's count after alice left = %d, want 3", l.Count)
	}
	h.join(h.dial("erin", "web"), "doc:1", nil)
	if j := h.roomMsg(bob, protocol.TypeRoomJoin); j.Member.UserID != "erin" || j.Count != 4 {
		t.Fatalf("bob's room_join of erin = %s count %d, want count 4", j.Member.UserID, j.Count)
	}
}

// TestRoomSummaryCountLeavesOutABlockingMember: the same in a large room,
// whose changes come as summaries.
func TestRoomSummaryCountLeavesOutABlockingMember(t *testing.T) {
	h := start(t, func(c *server.Config) { c.Rooms.RoomAnnounceMax = 2 })
	h.mustAPI("PUT", "/v1/users/alice/blocks", map[string]any{"blocks": []string{"bob"}})
	alice, carol := h.dial("alice", "web"), h.dial("carol", "web")
	h.join(alice, "big", nil)
	h.join(carol, "big", nil)
	h.roomMsg(alice, protocol.TypeRoomJoin) // carol
	bob := h.dial("bob", "web")
	if st := h.join(bob, "big", nil); st.Count != 2 {
		t.Fatalf("bob's room_state count = %d, want 2", st.Count)
	}
	h.advance(2*time.Second, time.Second, alice, carol, bob)
	if s := h.roomMsg(carol, protocol.TypeRoomSummary); s.Count != 3 {
		t.Fatalf("carol's summary count = %d, want 3", s.Count)
	}
	if s := h.roomMsg(bob, protocol.TypeRoomSummary); s.Count != 2 {
		t.Fatalf("bob's summary count = %d, want 2", s.Count)
	}
}

// mustAPIAs calls the HTTP API with bearer ("" for the API key) and fails
// the test unless it succeeds.
func (h *harness) mustAPIAs(method, path, bearer string) []byte {
	h.t.Helper()
	code, b := h.api(method, path, nil, bearer)
	if code/100 != 2 {
		h.t.Fatalf("%s %s = %d %s", method, path, code, b)
	}
	return b
}
