package presence

import (
	"maps"
	"slices"
	"testing"
)

// heldKeys spells held rooms as "room: session/device meta ..." lines.
func heldKeys(held map[string][]RoomConn) string {
	s := ""
	for _, room := range slices.Sorted(maps.Keys(held)) {
		s += room + ":"
		for _, c := range held[room] {
			s += " " + c.SessionID + "/" + c.Device + " " + string(c.Meta)
		}
		s += "\n"
	}
	return s
}

func TestHeldRoomsAreTheSessionsRoomsAndTheOwedLeaves(t *testing.T) {
	m := newMachine(t)
	if held := m.st.HeldRooms(); held != nil {
		t.Fatalf("a user without sessions holds %v", held)
	}
	m.connectIn("s1", "doc", "chat")
	m.connectIn("s2", "doc")
	m.connectIn("s3", "call")
	m.do(func(st *UserState) { st.Remove("s3", m.now) })
	want := "call: s3/ {}\nchat: s1/web {}\ndoc: s1/web {} s2/web {}\n"
	if got := heldKeys(m.st.HeldRooms()); got != want {
		t.Fatalf("held rooms\n%s want\n%s", got, want)
	}
	// A leave owed by a session that lists the room again is one
	// connection, not two.
	m.st.Leaves = append(m.st.Leaves, RoomLeave{Room: "doc", SessionID: "s2"})
	if got := heldKeys(m.st.HeldRooms()); got != want {
		t.Fatalf("held rooms\n%s want\n%s", got, want)
	}
	m.st.ClearLeaves(m.st.Leaves)
	if got, want := heldKeys(m.st.HeldRooms()), "chat: s1/web {}\ndoc: s1/web {} s2/web {}\n"; got != want {
		t.Fatalf("after the leaves were performed, held rooms\n%s want\n%s", got, want)
	}
}
