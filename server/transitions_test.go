package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/webhook"
)

// TestTransitionsKeepAbilitiesAndFilterTypes checks that the wrappers keep
// the optional abilities the hub looks for, that only the configured event
// types are queued, and that a failed write produces nothing.
func TestTransitionsKeepAbilitiesAndFilterTypes(t *testing.T) {
	var got []webhook.Type
	tr := newTransitions(func(evs ...webhook.Event) {
		for _, ev := range evs {
			got = append(got, ev.Type)
		}
	}, []webhook.Type{webhook.UserOnline, webhook.RoomOccupied}, time.Now)
	s := tr.store(memstore.New())
	if _, ok := s.(hub.StateReader); !ok {
		t.Fatal("the wrapped store lost StateReader")
	}
	rs := tr.roomStore(memstore.NewRooms())
	if _, ok := rs.(hub.RoomLister); !ok {
		t.Fatal("the wrapped room store lost RoomLister")
	}
	ctx := context.Background()
	now := time.Now()
	connect := func(st *presence.UserState) error {
		st.UserID = "ann"
		if err := st.Connect(presence.Session{ID: "s1", ActiveAt: now, LastSeen: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			return err
		}
		st.Settle(presence.Presence{UserID: "ann", Status: presence.StatusOffline}, now, presence.Timing{TTL: time.Minute})
		return nil
	}
	if _, err := s.Update(ctx, "ann", func(st *presence.UserState) error { _ = connect(st); return context.Canceled }); err == nil {
		t.Fatal("the failing write succeeded")
	}
	if len(got) != 0 || tr.online.Load() != 0 {
		t.Fatalf("a failed write queued %v and counted %d online", got, tr.online.Load())
	}
	if _, err := s.Update(ctx, "ann", connect); err != nil {
		t.Fatal(err)
	}
	join := func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) {
		return &presence.RoomMember{UserID: "ann", Connections: []presence.RoomConn{{SessionID: "s1"}}}, nil
	}
	if _, err := rs.UpdateRoom(ctx, "doc", "ann", join); err != nil {
		t.Fatal(err)
	}
	if want := []webhook.Type{webhook.UserOnline, webhook.RoomOccupied}; !slices.Equal(got, want) {
		t.Fatalf("queued %v, want %v (room.member_joined is not configured)", got, want)
	}
	if tr.online.Load() != 1 || tr.sessions.Load() != 1 {
		t.Fatalf("counted %d online, %d sessions", tr.online.Load(), tr.sessions.Load())
	}
}
