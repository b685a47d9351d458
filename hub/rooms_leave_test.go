package hub

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/fakeclock"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
)

// flakyRooms is a real room store that fails every update while down is
// set, as a room store that cannot be reached does (an outage, a master
// failing over). No real fault makes a room store fail exactly between a
// session's end and its leave, on demand.
type flakyRooms struct {
	RoomStore
	down atomic.Bool
	// lose makes updates apply and then fail, as one whose reply was lost
	// (a timeout after the store applied it).
	lose atomic.Bool
}

var _ RoomStore = (*flakyRooms)(nil)

func (f *flakyRooms) UpdateRoom(ctx context.Context, room, userID string, fn func(m *presence.RoomMember, count int) (*presence.RoomMember, error)) (presence.RoomChange, error) {
	if f.down.Load() {
		return presence.RoomChange{}, errors.New("room store unreachable")
	}
	ch, err := f.RoomStore.UpdateRoom(ctx, room, userID, fn)
	if err == nil && f.lose.Load() {
		return presence.RoomChange{}, errors.New("room store reply lost")
	}
	return ch, err
}

// owed returns the room leaves userID's record owes, as "room/session".
func owed(t *testing.T, s Store, userID string) []string {
	t.Helper()
	m, err := s.Load(context.Background(), []string{userID})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range m[userID].Leaves {
		out = append(out, l.Room+"/"+l.SessionID)
	}
	return out
}

func members(t *testing.T, rs RoomStore, room string) string {
	t.Helper()
	page, err := rs.RoomMembers(context.Background(), room, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	s := ""
	for _, m := range page.Members {
		s += m.UserID + " "
	}
	return s
}

// settleFor moves the clock in steps, keeping keep alive, and runs the
// hub's timers at each.
func settleFor(h *Hub, clock *fakeclock.Clock, d time.Duration, keep *Client) {
	for ; d > 0; d -= 500 * time.Millisecond {
		clock.Advance(500 * time.Millisecond)
		h.Touch(keep)
		h.Tick(context.Background())
	}
}

// expectOneLeave checks that viewer saw user leave exactly once: another
// member joining afterwards (joiner) proves that nothing else was on its
// way to viewer.
func expectOneLeave(t *testing.T, h *Hub, rec *recorder, user, joiner string) {
	t.Helper()
	leaves := func() (n int) {
		for _, l := range rec.roomFrames("room_leave") {
			if l.UserID == user {
				n++
			}
		}
		return n
	}
	poll.Until(t, "the room_leave", func() bool { return leaves() >= 1 })
	joins := len(rec.roomFrames("room_join"))
	member(t, h, joiner, "doc")
	poll.Until(t, joiner+"'s join", func() bool { return len(rec.roomFrames("room_join")) == joins+1 })
	if n := leaves(); n != 1 {
		t.Fatalf("%d room_leave frames of %s, want one", n, user)
	}
}

// TestFailedRoomLeaveIsRetried ends a session while the room store fails:
// the session's end is written, its leave is not. The record owes the
// leave, the reaper retries it until the room store answers again, and
// the other member sees the member leave once.
func TestFailedRoomLeaveIsRetried(t *testing.T) {
	for _, end := range []struct {
		name string
		do   func(h *Hub, bob *Client) error
	}{
		{"SetOffline", func(h *Hub, bob *Client) error { return h.SetOffline(context.Background(), bob) }},
		{"Kick", func(h *Hub, bob *Client) error { return h.Kick(context.Background(), "bob") }},
		{"Erase", func(h *Hub, bob *Client) error { return h.Erase(context.Background(), "bob") }},
	} {
		t.Run(end.name, func(t *testing.T) {
			rooms := &flakyRooms{RoomStore: memstore.NewRooms()}
			h, clock := newHub(t, func(c *Config) { c.Rooms = rooms })
			alice, ar := member(t, h, "alice", "doc")
			bob, _ := member(t, h, "bob", "doc")
			poll.Until(t, "alice to see bob", func() bool { return len(ar.roomFrames("room_join")) == 1 })

			rooms.down.Store(true)
			if err := end.do(h, bob); err != nil {
				t.Fatal(err)
			}
			want := "doc/" + bob.SessionID
			if got := owed(t, h.cfg.Store, "bob"); len(got) != 1 || got[0] != want {
				t.Fatalf("bob's record owes %v, want [%s]", got, want)
			}
			// Retries fail while the room store is down; the leave stays owed.
			settleFor(h, clock, 10*time.Second, alice)
			if got := owed(t, h.cfg.Store, "bob"); len(got) != 1 {
				t.Fatalf("after failed retries bob's record owes %v", got)
			}
			if n := len(ar.roomFrames("room_leave")); n != 0 {
				t.Fatalf("alice saw %d leaves while bob was still in the room", n)
			}

			rooms.down.Store(false)
			settleFor(h, clock, presence.LeaveRetry, alice)
			expectOneLeave(t, h, ar, "bob", "carol")
			if got := members(t, rooms, "doc"); got != "alice carol " {
				t.Fatalf("doc = %s", got)
			}
			m, _ := h.cfg.Store.Load(context.Background(), []string{"bob"})
			if st := m["bob"]; st.Leaves != nil || !st.Deadline.IsZero() {
				t.Fatalf("bob's record after the retry: leaves %+v, deadline %v", st.Leaves, st.Deadline)
			}
			// No retry announces it again (carol's session ends meanwhile).
			settleFor(h, clock, time.Minute, alice)
			expectOneLeave(t, h, ar, "bob", "dave")
		})
	}
}

// flakyAndSoundNodes starts two nodes on one store, one room store and one
// bus; the first reaches the room store through a flakyRooms.
func flakyAndSoundNodes(t *testing.T) (flaky, sound *Hub, rooms *flakyRooms, store *memstore.Store, clock *fakeclock.Clock) {
	sn := newSharedNodes()
	rooms = &flakyRooms{RoomStore: sn.rooms}
	flaky = sn.node(t, 1, func(c *Config) { c.Rooms = rooms })
	return flaky, sn.node(t, 2, nil), rooms, sn.store, sn.clock
}

// TestRoomLeaveOfADeadNodeIsRetriedByAnother ends a session on a node that
// dies before leaving its rooms: another node's reaper performs the leave
// the record owes.
func TestRoomLeaveOfADeadNodeIsRetriedByAnother(t *testing.T) {
	dead, alive, dying, store, clock := flakyAndSoundNodes(t)
	real := dying.RoomStore
	alice, ar := member(t, alive, "alice", "doc")
	bob, _ := member(t, dead, "bob", "doc")
	poll.Until(t, "alice to see bob", func() bool { return len(ar.roomFrames("room_join")) == 1 })

	// Node 1 writes the end of bob's session and dies before his leave
	// reaches the room.
	dying.down.Store(true)
	if err := dead.SetOffline(context.Background(), bob); err != nil {
		t.Fatal(err)
	}
	dead.Close()
	if got := members(t, real, "doc"); got != "alice bob " {
		t.Fatalf("doc = %s", got)
	}
	// The leave is due LeaveRetry after the dead node wrote it; the other
	// node's poll for deadlines it did not write runs once per leaseEvery.
	settleFor(alive, clock, presence.LeaveRetry+alive.leaseEvery(), alice)
	// A leave performed again (a retry racing the first attempt) changes
	// nothing and announces nothing.
	alive.leaveRooms(context.Background(), &presence.UserState{UserID: "bob"},
		[]presence.RoomLeave{{Room: "doc", SessionID: bob.SessionID, Since: clock.Now().Add(-time.Second)}}, clock.Now())
	expectOneLeave(t, alive, ar, "bob", "carol")
	if got := owed(t, store, "bob"); got != nil {
		t.Fatalf("bob's record still owes %v", got)
	}
}

// TestRoomLeaveDoneButNotAnnouncedIsAnnouncedByTheRetry: the room store
// applied a leave but its reply was lost, so nobody published it; the
// retry finds nothing left to do and publishes the member's state, which
// every node turns into exactly the room_leave its members missed.
func TestRoomLeaveDoneButNotAnnouncedIsAnnouncedByTheRetry(t *testing.T) {
	b, a, losing, store, clock := flakyAndSoundNodes(t)
	real := losing.RoomStore
	alice, ar := member(t, a, "alice", "doc")
	bob, _ := member(t, b, "bob", "doc")
	poll.Until(t, "alice to see bob", func() bool { return len(ar.roomFrames("room_join")) == 1 })

	losing.lose.Store(true)
	if err := b.SetOffline(context.Background(), bob); err != nil {
		t.Fatal(err)
	}
	losing.lose.Store(false)
	if got := members(t, real, "doc"); got != "alice " {
		t.Fatalf("doc = %s", got)
	}
	if got := owed(t, store, "bob"); len(got) != 1 {
		t.Fatalf("bob's record owes %v", got)
	}
	if n := len(ar.roomFrames("room_leave")); n != 0 {
		t.Fatalf("alice saw %d leaves before the retry", n)
	}
	settleFor(a, clock, presence.LeaveRetry+a.leaseEvery(), alice)
	expectOneLeave(t, a, ar, "bob", "carol")
	if got := owed(t, store, "bob"); got != nil {
		t.Fatalf("bob's record still owes %v", got)
	}
}
