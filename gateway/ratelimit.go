package gateway

import (
	"time"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// Rate limiting. Every message is charged to one token bucket of its
// connection, chosen by the message's type as the handler will read it:
// cursor messages to the cursor allowance, every other message (unparseable
// ones included) to the general one. Charging by the decoded type, not by
// the frame's first bytes, means a frame cannot be charged as one type and
// run as another: encoding/json keeps the last of duplicate keys, so
// {"type":"cursor","type":"get_presence",…} is a get_presence and pays as
// one.
//
// Refused messages get one rate_limited error per second at most, and a
// connection that keeps sending while refused (more than rejectLimit
// refusals within rejectWindow) is closed with 4002.
const (
	rejectLimit  = 100
	rejectWindow = 10 * time.Second
)

// Cursor messages have their own allowance, apart from the general rate
// limit: clients send them as the pointer moves, and the hub coalesces them
// to 30 a second per room anyway.
const (
	cursorRatePerSecond = 120
	cursorBurst         = 120
)

// limiter is one connection's rate state. It is touched only by the
// connection's own (serialised) message handling, so it has no lock.
type limiter struct {
	general, cursors bucket
	rejected         int   // messages refused since the window started
	windowStart      int64 // unix nanos
	lastErrorAt      int64 // unix nanos
}

// allowType charges one message of type typ at now and reports whether it
// may pass.
func (c *conn) allowType(typ string, now int64) bool {
	if typ == protocol.TypeCursor {
		return c.rate.cursors.allow(now, cursorRatePerSecond, cursorBurst)
	}
	return c.rate.general.allow(now, c.g.cfg.RatePerSecond, c.g.cfg.RateBurst)
}

// refuse answers a message the rate limit dropped.
func (c *conn) refuse(now int64) {
	r := &c.rate
	if now-r.windowStart > int64(rejectWindow) {
		r.windowStart, r.rejected = now, 0
	}
	r.rejected++
	if r.rejected > rejectLimit {
		c.g.m.Inc(c.g.m.Closes, "rate_limited")
		c.client.Close(protocol.CloseRateLimited, "message rate limit exceeded")
		return
	}
	if now-r.lastErrorAt >= int64(time.Second) {
		r.lastErrorAt = now
		c.fail(nil, presence.Errorf(presence.CodeRateLimited, "more than %g messages per second (burst %g); message dropped", c.g.cfg.RatePerSecond, c.g.cfg.RateBurst))
	}
}

// bucket is a token bucket that starts full: it holds at most burst tokens
// and gains rate tokens a second; a message takes one.
type bucket struct {
	tokens   float64
	refilled int64 // unix nanos; 0 before the first use
}

func (b *bucket) allow(now int64, rate, burst float64) bool {
	if b.refilled == 0 {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+float64(now-b.refilled)/float64(time.Second)*rate)
	}
	b.refilled = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
