package roomstoretest

import (
	"fmt"
	"testing"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
)

// RunLister runs the suite of hub.RoomLister; newStore returns an empty
// store that has the ability.
func RunLister(t *testing.T, newStore func(t *testing.T) hub.RoomStore) {
	t.Run("ListsOccupiedRooms", func(t *testing.T) { testListRooms(t, newStore(t).(hub.RoomLister)) })
}

func listed(l presence.RoomList) string {
	s := ""
	for _, r := range l.Rooms {
		s += fmt.Sprintf("%s=%d/%d ", r.Room, r.Count, r.Visible)
	}
	return s + "next=" + l.Next
}

func testListRooms(t *testing.T, l hub.RoomLister) {
	s := l.(hub.RoomStore)
	check := func(prefix, after string, limit int, want string) {
		t.Helper()
		got, err := l.ListRooms(ctx, prefix, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if listed(got) != want {
			t.Fatalf("ListRooms(%q, %q, %d) = %q, want %q", prefix, after, limit, listed(got), want)
		}
	}
	count := func(want int) {
		t.Helper()
		if n, err := l.CountRooms(ctx); err != nil || n != want {
			t.Fatalf("CountRooms = %d, %v; want %d", n, err, want)
		}
	}
	check("", "", 10, "next=")
	count(0)
	add(t, s, "doc:2", "ann", "s1")
	add(t, s, "doc:1", "ann", "s1")
	add(t, s, "doc:1", "bob", "s2")
	add(t, s, "chat", "cy", "s3")
	add(t, s, "x?[1]\\", "cy", "s3")
	_, err := s.UpdateRoom(ctx, "doc:2", "eve", func(*presence.RoomMember, int) (*presence.RoomMember, error) {
		return &presence.RoomMember{UserID: "eve", Invisible: true, Connections: []presence.RoomConn{conn("s9")}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	count(4)
	check("", "", 10, `chat=1/1 doc:1=2/2 doc:2=2/1 x?[1]\=1/1 next=`)
	check("doc:", "", 10, "doc:1=2/2 doc:2=2/1 next=")
	check("doc:", "", 1, "doc:1=2/2 next=doc:1")
	check("doc:", "doc:1", 1, "doc:2=2/1 next=")
	check("", "doc:2", 10, `x?[1]\=1/1 next=`)
	// Pattern characters in the prefix are taken as they are.
	check("x?[", "", 10, `x?[1]\=1/1 next=`)
	check("x*", "", 10, "next=")
	check("?", "", 10, "next=")
	// An emptied room is no longer listed; a room refilled is again.
	remove(t, s, "chat", "cy")
	check("", "", 10, `doc:1=2/2 doc:2=2/1 x?[1]\=1/1 next=`)
	count(3)
	add(t, s, "chat", "cy", "s3")
	check("c", "", 10, "chat=1/1 next=")
}
