package main_test

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/protocol"
)

// TestKilledServerKeepsRoomsInTheirGrace kills (SIGKILL) a server with
// bob in room a and carol in room b, webhooks on, and restarts it on the
// same data dir. bob's device comes back within the grace and joins a
// again: no webhook event is sent for it and alice, viewing a since the
// restart, never sees bob leave. carol's does not come back: her room
// sends room.member_left and room.vacated when the grace ends.
func TestKilledServerKeepsRoomsInTheirGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := build(t)
	dir := t.TempDir()
	rcv, flags := receiver(t)
	flags = append(flags, "--offline-grace", "3s")
	n := run(t, bin, dir, flags...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	join := func(base, user, room string) (*client.Conn, protocol.RoomMessage) {
		t.Helper()
		c, err := client.Dial(ctx, base, client.Options{UserID: user, Device: "web"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Drop)
		st, err := c.JoinRoom(ctx, room, map[string]any{"by": user})
		if err != nil {
			t.Fatal(err)
		}
		return c, st
	}
	join(n.base, "bob", "a")
	join(n.base, "carol", "b")
	// Wait for the joins' events, so that those after the restart are told
	// apart (a resent event keeps its id: Events lists it once).
	poll.Until(t, "the joins' events", func() bool { return len(rcv.Events()) == 6 })
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()

	r := run(t, bin, dir, flags...)
	alice, st := join(r.base, "alice", "a")
	if len(st.Members) != 2 || st.Members[1].UserID != "bob" || len(st.Members[1].Connections) != 1 {
		t.Fatalf("room a after the restart: %+v, want alice and bob in his grace", st.Members)
	}
	join(r.base, "bob", "a")
	// alice hears of bob's return, then of his old session's end with the
	// grace: two room_updates, never a room_leave.
	for updates := 0; updates < 2; {
		m, err := alice.Next(ctx)
		if err != nil {
			t.Fatalf("alice after %d room_updates of bob: %v", updates, err)
		}
		rm, _ := m.Room()
		switch {
		case m.Type == protocol.TypeRoomUpdate && rm.Member.UserID == "bob":
			updates++
		case m.Type == protocol.TypeRoomLeave || m.Type == protocol.TypeRoomJoin:
			t.Fatalf("alice got %s", m.Raw)
		}
	}
	poll.Until(t, "carol's leave", func() bool { return len(rcv.Events()) >= 6+5 })
	// A marker: the outbox keeps its order, so nothing else is on its way.
	join(r.base, "dave", "c")
	poll.Until(t, "dave's events", func() bool { return len(rcv.Events()) >= 6+5+3 })
	var got []string
	for _, ev := range rcv.Events()[6:] {
		got = append(got, ev.String())
	}
	want := []string{"user.online alice", "room.member_joined alice @a",
		"user.offline carol", "room.member_left carol @b", "room.vacated @b",
		"user.online dave", "room.occupied @c", "room.member_joined dave @c"}
	if !slices.Equal(got, want) {
		t.Fatalf("events after the restart:\n%q\nwant\n%q", got, want)
	}
	if _, err := alice.Request(ctx, map[string]any{"type": protocol.TypePing}); err != nil {
		t.Fatal(err)
	}
	quick, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	if m, err := alice.Next(quick); err == nil {
		t.Fatalf("alice got %s after bob's old session ended", m.Raw)
	}
}
