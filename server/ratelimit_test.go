package server_test

import (
	"fmt"
	"testing"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// untilError returns how many messages of type typ reached c before its
// first error reply, and that error. Any other message fails the test.
func (h *harness) untilError(c *client.Conn, typ string) (int, client.Message) {
	h.t.Helper()
	n := 0
	for {
		m := h.next(c)
		switch m.Type {
		case typ:
			n++
		case protocol.TypeError:
			return n, m
		default:
			h.t.Fatalf("got %s while counting %s replies", m.Raw, typ)
		}
	}
}

// A frame is charged by the type it is handled as. encoding/json keeps the
// last of duplicate keys, so this frame is a get_presence even though it
// starts like a cursor message: it must pay the general allowance, not
// the larger cursor one.
func TestRateLimitChargesTheParsedType(t *testing.T) {
	h := start(t, func(c *server.Config) { c.RatePerSecond = 1; c.RateBurst = 5 })
	c := h.dial("alice", "web")
	// The fake clock stands still: no token comes back during the test.
	for i := range 10 {
		frame := fmt.Sprintf(`{"type":"cursor","type":"get_presence","user_ids":["bob"],"id":"g%d"}`, i)
		if err := c.SendRaw(ctx5(t), []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	n, m := h.untilError(c, protocol.TypePresence)
	if n != 5 || m.Code != "rate_limited" {
		t.Fatalf("%d bulk reads answered, then %s; want the burst of 5, then rate_limited", n, m.Raw)
	}
	// A real cursor message still uses the cursor allowance.
	if err := c.SendRaw(ctx5(t), []byte(`{"type":"cursor","room":"r","cursor":{"x":1}}`)); err != nil {
		t.Fatal(err)
	}
	if m := h.next(c); m.Type != protocol.TypeError || m.Code == "rate_limited" {
		t.Fatalf("cursor outside a room: got %s, want an error other than rate_limited", m.Raw)
	}
}

// A client closed for flooding gets everything it was owed first: the
// replies to the messages within its allowance, then the rate_limited
// error, then the close frame.
func TestRateLimitCloseFollowsQueuedReplies(t *testing.T) {
	// The burst, then one refusal past the limit of 100 that closes the
	// connection (fewer than wsconn's bound on queued events, so that a
	// busy machine still closes for the rate and not with 1013).
	const burst, refusals = 50, 101
	h := start(t, func(c *server.Config) { c.RatePerSecond = 1; c.RateBurst = burst })
	// Several clients, one after the other: a close that overtook the
	// replies would not always be seen on one.
	for i := range 5 {
		c := h.dial(fmt.Sprintf("flooder%d", i), "web")
		for range burst + refusals {
			if c.SendRaw(ctx5(t), []byte(`{"type":"ping"}`)) != nil {
				break // the close arrived
			}
		}
		n, m := h.untilError(c, protocol.TypePong)
		if n != burst || m.Code != "rate_limited" {
			t.Fatalf("%d pongs, then %s; want %d pongs, then rate_limited", n, m.Raw, burst)
		}
		if got := h.closed(c); got != protocol.CloseRateLimited {
			t.Fatalf("close status = %d, want %d", got, protocol.CloseRateLimited)
		}
		if m, err := c.Next(ctx5(t)); err == nil {
			t.Fatalf("after the rate_limited error: %s, want the close", m.Raw)
		}
	}
}
