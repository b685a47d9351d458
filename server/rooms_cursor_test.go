package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// sendCursor sends a cursor (type first, so it uses the cursor allowance)
// with an id, and waits for its ack.
func (h *harness) sendCursor(c *client.Conn, room string, x int) {
	h.t.Helper()
	raw := fmt.Sprintf(`{"type":"cursor","room":%q,"cursor":{"x":%d},"id":%d}`, room, x, x)
	if err := c.SendRaw(ctx5(h.t), []byte(raw)); err != nil {
		h.t.Fatal(err)
	}
	if m := h.next(c); m.Type != protocol.TypeAck {
		h.t.Fatalf("reply to a cursor = %s", m.Raw)
	}
}

// cursorX waits for c's next message, a cursor, and returns its x.
func (h *harness) cursorX(c *client.Conn) (x int, from protocol.RoomMessage) {
	h.t.Helper()
	m := h.roomMsg(c, protocol.TypeCursor)
	var pos struct{ X int }
	mustJSON(h.t, m.Cursor, &pos)
	return pos.X, m
}

func TestCursorsAreRateLimitedAndTheLastAlwaysArrives(t *testing.T) {
	h := start(t, nil)
	c := h.inRoom("doc:1", "alice", "bob")
	alice, bob := c[0], c[1]
	bobTab := h.dial("bob", "web")
	h.join(bobTab, "doc:1", nil)
	h.roomMsg(alice, protocol.TypeRoomUpdate)
	h.roomMsg(bob, protocol.TypeRoomUpdate)

	// The first goes out at once, to everyone but its sender (bob's other
	// tab included), with who sent it.
	h.sendCursor(bob, "doc:1", 1)
	for _, c := range []*client.Conn{alice, bobTab} {
		x, m := h.cursorX(c)
		if x != 1 || m.UserID != "bob" || m.SessionID != bob.Welcome.SessionID || m.Room != "doc:1" {
			t.Fatalf("cursor = %+v", m)
		}
	}
	h.quiet(bob)
	// Within the interval, cursors wait and collapse to the latest.
	for x := 2; x <= 5; x++ {
		h.sendCursor(bob, "doc:1", x)
	}
	h.quiet(alice)
	h.advance(hub.CursorInterval, hub.CursorInterval, alice, bob)
	if x, _ := h.cursorX(alice); x != 5 {
		t.Fatalf("coalesced cursor x = %d, want 5", x)
	}
	h.quiet(alice)

	// A pointer moving every 10 ms for 900 ms: at most 30 a second reach
	// alice, in order, and the final position arrives.
	for x := 6; x <= 95; x++ {
		h.advance(10*time.Millisecond, 10*time.Millisecond)
		h.sendCursor(bob, "doc:1", x)
	}
	h.advance(hub.CursorInterval, hub.CursorInterval, alice, bob)
	n, last := 0, 5
	for last != 95 {
		x, _ := h.cursorX(alice)
		if x <= last {
			t.Fatalf("cursor %d after %d", x, last)
		}
		last = x
		n++
	}
	if n > 29 || n < 20 {
		t.Fatalf("%d cursors reached alice in 934 ms; want at most 29 (30/s) and no starving", n)
	}
	h.quiet(alice)
}

func TestCursorAllowanceIsSeparateFromTheRateLimit(t *testing.T) {
	h := start(t, func(c *server.Config) { c.RatePerSecond = 1; c.RateBurst = 2 })
	c := h.inRoom("doc:1", "alice", "bob")
	alice, bob := c[0], c[1]
	// 100 cursors with the clock standing still pass: they have their own
	// allowance (120 a second), and collapse to the first and the last.
	for x := 1; x <= 100; x++ {
		h.sendCursor(bob, "doc:1", x)
	}
	if x, _ := h.cursorX(alice); x != 1 {
		t.Fatalf("first cursor x = %d", x)
	}
	h.advance(hub.CursorInterval, hub.CursorInterval)
	if x, _ := h.cursorX(alice); x != 100 {
		t.Fatalf("last cursor x = %d", x)
	}
}
