package server_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/redistest"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/redisstore"
)

// TestRedisRoomLeaveSurvivesItsMasterFreezing freezes the Redis master
// holding a room (SIGSTOP) while a member's session ends: the end is
// written to the user's record, on another master, and the room leave
// times out. When the master answers again, a reaper performs the leave
// the record owes, and the other member sees it once.
func TestRedisRoomLeaveSurvivesItsMasterFreezing(t *testing.T) {
	cl := partialCoverageCluster(t)
	room, frozen, users := placeAway(t, cl, "alice", "bob")
	alice, bob := users[0], users[1]

	c := startNodes(t, 2, cl.URL())
	a, b := c.nodes[0], c.nodes[1]
	ac := a.dial(alice, "web")
	a.join(ac, room, nil)
	bc := b.dial(bob, "web")
	b.join(bc, room, nil)
	if j := a.roomMsg(ac, protocol.TypeRoomJoin); j.Member.UserID != bob {
		t.Fatalf("alice got %+v", j)
	}

	frozen.Pause()
	t.Cleanup(frozen.Resume)
	// The session's end is written; its leave waits out the operation
	// timeout on the frozen master and fails.
	if err := bc.SetOffline(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	var export struct {
		State presence.UserState `json:"state"`
	}
	code, body := b.api("GET", "/v1/users/"+bob+"/export", nil, "")
	mustJSON(t, body, &export)
	if code != http.StatusOK || len(export.State.Leaves) != 1 || export.State.Leaves[0].Room != room || export.State.Live() {
		t.Fatalf("bob's record while the room's master is frozen: %d %s", code, body)
	}

	frozen.Resume()
	if err := cl.WaitHealthy(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The reapers resume after their hold, and the retry comes due.
	deadline := time.Now().Add(10 * time.Second)
	var leave protocol.RoomMessage
	for leave.Type == "" {
		if time.Now().After(deadline) {
			t.Fatal("no room_leave after the master came back")
		}
		c.advance(time.Second, 500*time.Millisecond, ac)
		leave = nextRoomEvent(t, a, ac)
	}
	if leave.Type != protocol.TypeRoomLeave || leave.UserID != bob || leave.Count != 1 {
		t.Fatalf("alice got %+v", leave)
	}
	// Exactly once, and the record owes nothing more.
	c.advance(2*presence.LeaveRetryMax, 10*time.Second, ac)
	if m := nextRoomEvent(t, a, ac); m.Type != "" {
		t.Fatalf("after the leave alice got %+v", m)
	}
	_, body = b.api("GET", "/v1/users/"+bob+"/export", nil, "")
	export.State = presence.UserState{}
	mustJSON(t, body, &export)
	if export.State.Leaves != nil {
		t.Fatalf("bob's record still owes %+v", export.State.Leaves)
	}
	page, err := ac.RoomMembers(ctx5(t), room, "", 10)
	if err != nil || memberIDs(page.Members) != alice || page.Count != 1 {
		t.Fatalf("room_members = %+v, %v", page, err)
	}
}

// nextRoomEvent returns the next room event queued for c, skipping the
// notices of the store's outage, or a zero message when the next thing is
// the reply to a ping (nothing was queued).
func nextRoomEvent(t *testing.T, h *harness, c *client.Conn) protocol.RoomMessage {
	t.Helper()
	if err := c.SendRaw(ctx5(t), []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	var found protocol.RoomMessage
	for {
		m := h.next(c)
		switch m.Type {
		case protocol.TypePong:
			return found
		case "error":
			continue // unavailable, while the master was frozen
		}
		r, err := m.Room()
		if err != nil || found.Type != "" {
			t.Fatalf("unexpected %s (after %+v)", m.Raw, found)
		}
		found = r
	}
}

// placeAway picks a room on one master and user ids whose records,
// deadline shards and channels all lie on other masters, and the room's
// channel too: freezing the room's master then fails the room's updates
// and nothing else the test relies on. redisstore says where its keys
// and channels lie.
func placeAway(t *testing.T, cl *redistest.Cluster, names ...string) (room string, master *redistest.Server, users []string) {
	t.Helper()
	owner := slotOwners(t, cl)
	frozen := -1
	for i := 0; room == "" && i < 1000; i++ {
		r := fmt.Sprint("doc-", i)
		if p := owner[redisstore.RoomSlot(r)]; owner[redisstore.TopicSlot("r:"+r)] != p {
			room, frozen, master = r, p, cl.Nodes[p]
		}
	}
	if room == "" {
		t.Fatal("no room name fits")
	}
	for _, n := range names {
		users = append(users, pickUser(t, owner, n, func(record, shard, channel int) bool {
			return record != frozen && shard != frozen && channel != frozen
		}))
	}
	return room, master, users
}

// partialCoverageCluster starts a cluster of three masters without
// replicas whose nodes do not require full coverage: the other masters
// keep serving while one is frozen, as with a master lost for longer than
// a failover takes.
func partialCoverageCluster(t *testing.T) *redistest.Cluster {
	t.Helper()
	cl := redistest.StartCluster(t, 3, 0)
	if err := cl.RequireFullCoverage(false); err != nil {
		t.Fatal(err)
	}
	return cl
}

// pickUser returns the first user id name<i> whose record, deadline shard
// and channel lie on masters (indexes in owner, see slotOwners) that fit.
func pickUser(t *testing.T, owner []int, name string, fits func(record, shard, channel int) bool) string {
	t.Helper()
	for i := range 10000 {
		u := name + strconv.Itoa(i)
		record, shard, channel := redisstore.UserSlots(u)
		if fits(owner[record], owner[shard], owner[channel]) {
			return u
		}
	}
	t.Fatalf("no user id %s<n> fits", name)
	return ""
}

// slotOwners maps each slot to the index in cl.Nodes of its master.
func slotOwners(t *testing.T, cl *redistest.Cluster) []int {
	t.Helper()
	owner, err := cl.SlotOwners()
	if err != nil {
		t.Fatal(err)
	}
	return owner
}
