package memstore_test

import (
	"context"
	"testing"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/internal/roomstoretest"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
)

func TestRoomStoreContract(t *testing.T) {
	roomstoretest.Run(t, func(*testing.T) hub.RoomStore { return memstore.NewRooms() })
}

func TestRoomListerContract(t *testing.T) {
	roomstoretest.RunLister(t, func(*testing.T) hub.RoomStore { return memstore.NewRooms() })
}

// A process that starts its rooms above its start time goes on above the
// versions of the run before it: a second store (the next run) started
// above a later time hands out higher versions for the same room.
func TestRoomsStartAbove(t *testing.T) {
	ctx := context.Background()
	join := func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) {
		return &presence.RoomMember{UserID: "alice", Connections: []presence.RoomConn{{SessionID: "s", Device: "web"}}}, nil
	}
	first := memstore.NewRooms()
	first.StartAbove(1_000)
	a, err := first.UpdateRoom(ctx, "doc", "alice", join)
	if err != nil || a.V <= 1_000 || !a.Changed {
		t.Fatalf("first run: v %d, %v", a.V, err)
	}
	first.StartAbove(10) // never lowers
	if b, _ := first.UpdateRoom(ctx, "doc2", "alice", join); b.V <= 1_000 {
		t.Fatalf("StartAbove lowered the floor: v %d", b.V)
	}
	next := memstore.NewRooms()
	next.StartAbove(2_000)
	if c, _ := next.UpdateRoom(ctx, "doc", "alice", join); c.V <= a.V {
		t.Fatalf("next run: v %d, not above %d", c.V, a.V)
	}
}
