package presence

import (
	"fmt"
	"testing"
	"time"
)

// connectIn connects a session listed in rooms.
func (m *machine) connectIn(id string, rooms ...string) {
	m.t.Helper()
	m.do(func(st *UserState) {
		if err := st.Connect(Session{ID: id, Device: "web", ActiveAt: m.now, LastSeen: m.now, ExpiresAt: m.now.Add(timing.TTL), Rooms: rooms}); err != nil {
			m.t.Fatal(err)
		}
	})
}

// take hands out the owed leaves at the machine's time, as the hub does
// after each settle.
func (m *machine) take() []RoomLeave {
	m.t.Helper()
	take, dropped := m.st.TakeLeaves(m.now, timing)
	if len(dropped) > 0 {
		m.t.Fatalf("dropped %v", dropped)
	}
	return take
}

func leaveKeys(ls []RoomLeave) string {
	s := ""
	for _, l := range ls {
		s += l.Room + "/" + l.SessionID + " "
	}
	return s
}

func TestEndedSessionOwesItsRoomLeavesUntilCleared(t *testing.T) {
	m := newMachine(t)
	m.connectIn("s1", "doc", "chat")
	m.connectIn("s2")
	if m.take() != nil || len(m.st.Leaves) != 0 {
		t.Fatalf("live sessions owe nothing: %+v", m.st.Leaves)
	}
	m.advance(time.Second)
	v := m.st.Version
	m.do(func(st *UserState) { st.Remove("s1", m.now) })
	if m.st.Version != v {
		t.Fatal("closing one of two tabs of one device changed what viewers see")
	}
	if !m.st.Deadline.Equal(m.now) {
		t.Fatalf("deadline = %v, want now (%v): the leaves are due at once", m.st.Deadline, m.now)
	}
	take := m.take()
	if leaveKeys(take) != "doc/s1 chat/s1 " || !take[0].Since.Equal(m.now) {
		t.Fatalf("taken %+v", take)
	}
	// Handed out: due again after the retry, not before.
	if !m.st.Deadline.Equal(m.now.Add(LeaveRetry)) {
		t.Fatalf("deadline after taking = %v, want the retry at %v", m.st.Deadline, m.now.Add(LeaveRetry))
	}
	m.advance(LeaveRetry - time.Millisecond)
	if got := m.take(); got != nil {
		t.Fatalf("taken again before the retry: %+v", got)
	}
	m.advance(time.Millisecond)
	if got := m.take(); leaveKeys(got) != "doc/s1 chat/s1 " {
		t.Fatalf("retry took %+v", got)
	}
	// Confirming one leaves the other owed; confirming both clears the
	// deadline back to the session's own.
	m.do(func(st *UserState) { st.ClearLeaves(take[:1]) })
	if leaveKeys(m.st.Leaves) != "chat/s1 " || m.st.Deadline.After(m.now.Add(LeaveRetry)) {
		t.Fatalf("after one confirmation: %+v, deadline %v", m.st.Leaves, m.st.Deadline)
	}
	m.do(func(st *UserState) { st.ClearLeaves(take) })
	if m.st.Leaves != nil || !m.st.LeavesDue.IsZero() || !m.st.Deadline.Equal(m.st.Session("s2").ExpiresAt) {
		t.Fatalf("after confirming all: leaves %+v, due %v, deadline %v", m.st.Leaves, m.st.LeavesDue, m.st.Deadline)
	}
}

func TestExpiredSessionOwesItsRoomLeaves(t *testing.T) {
	m := newMachine(t)
	m.connectIn("s1", "doc")
	m.advance(timing.TTL)
	m.expect(StatusOffline)
	take := m.take()
	if leaveKeys(take) != "doc/s1 " || !take[0].Since.Equal(m.now) {
		t.Fatalf("taken %+v", take)
	}
	// Nothing else is scheduled for an offline user: only the retry.
	if !m.st.Deadline.Equal(m.now.Add(LeaveRetry)) {
		t.Fatalf("deadline = %v", m.st.Deadline)
	}
	// A session of another device ending later makes everything due at
	// once again, the earlier leave included.
	m.connectIn("s2", "chat")
	m.do(func(st *UserState) { st.Disconnect("s2", m.now, m.now, 0) })
	if got := m.take(); leaveKeys(got) != "doc/s1 chat/s2 " {
		t.Fatalf("taken %+v", got)
	}
}

func TestRetriesBackOffWithTheAgeOfTheOldestLeave(t *testing.T) {
	m := newMachine(t)
	m.connectIn("s1", "doc")
	m.do(func(st *UserState) { st.Remove("s1", m.now) })
	start := m.now
	m.take()
	for _, c := range []struct {
		at   time.Duration
		next time.Duration
	}{
		{3 * time.Second, 3 * time.Second},
		{time.Minute, 6 * time.Second},
		{time.Hour, LeaveRetryMax},
	} {
		m.now = start.Add(c.at)
		if m.take() == nil {
			t.Fatalf("nothing due at %s", c.at)
		}
		if got := m.st.LeavesDue.Sub(m.now); got != c.next {
			t.Fatalf("at %s the next retry is in %s, want %s", c.at, got, c.next)
		}
	}
}

func TestOwedLeavesAreBounded(t *testing.T) {
	m := newMachine(t)
	m.connectIn("s1", "old")
	m.do(func(st *UserState) { st.Remove("s1", m.now) })
	m.take()
	m.now = m.now.Add(LeaveHorizon + time.Second)
	for i := range MaxLeaves/100 + 1 {
		rooms := make([]string, 100)
		for j := range rooms {
			rooms[j] = fmt.Sprintf("r%d-%d", i, j)
		}
		id := fmt.Sprint("t", i)
		m.connectIn(id, rooms...)
		m.do(func(st *UserState) { st.Remove(id, m.now) })
	}
	take, dropped := m.st.TakeLeaves(m.now, timing)
	// The leave past the horizon goes, then the oldest past the bound.
	if len(dropped) != 101 || dropped[0].Room != "old" || dropped[1].Room != "r0-0" || dropped[100].Room != "r0-99" {
		t.Fatalf("dropped %d: %v … %v", len(dropped), dropped[0], dropped[len(dropped)-1])
	}
	if len(take) != MaxLeaves || len(m.st.Leaves) != MaxLeaves || take[0].Room != "r1-0" {
		t.Fatalf("took %d, owes %d", len(take), len(m.st.Leaves))
	}
}

func TestLeaveIsMootWhenTheSessionListsTheRoomAgain(t *testing.T) {
	m := newMachine(t)
	m.connectIn("s1", "doc")
	m.do(func(st *UserState) { st.Remove("s1", m.now) })
	// Its node writes the session back (it was ended while its connection
	// lived), and it joins the room again before the leave was confirmed.
	m.connectIn("s1", "doc")
	if got := m.take(); got != nil || m.st.Leaves != nil || !m.st.Deadline.Equal(m.st.Session("s1").ExpiresAt) {
		t.Fatalf("took %+v, owes %+v, deadline %v", got, m.st.Leaves, m.st.Deadline)
	}
}

func TestSessionsWithoutRoomsOweNothing(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	m.advance(timing.TTL)
	m.expect(StatusOffline)
	if m.st.Leaves != nil || !m.st.Deadline.IsZero() || m.take() != nil {
		t.Fatalf("leaves %+v, deadline %v", m.st.Leaves, m.st.Deadline)
	}
}
