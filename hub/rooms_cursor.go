package hub

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/presenced/presenced/deadline"
	"github.com/presenced/presenced/presence"
)

// Cursors are rate limited per connection and room: one goes out at once
// when the previous one left at least CursorInterval ago; otherwise it
// waits, replacing any cursor already waiting, until the interval has
// passed. So at most 30 a second reach the others, and the last position
// always does. One queue and one goroutine serve every connection; the
// goroutine ticks only while cursors are waiting.

// cursorState is one connection's cursor in one room, guarded by the cursor
// queue's lock.
type cursorState struct {
	last    time.Time // when the last cursor went out
	pending []byte    // the bus payload waiting for its turn
	queued  bool
	gone    bool // the connection left the room
}

type cursorQueue struct {
	mu   sync.Mutex
	q    *deadline.Queue[*roomSub]
	wake chan struct{}
}

func (cq *cursorQueue) init() {
	cq.q = deadline.New[*roomSub]()
	cq.wake = make(chan struct{}, 1)
}

// cursorStep is how often waiting cursors are looked at: a quarter of the
// interval, so a waiting cursor leaves at most a quarter interval late.
const cursorStep = CursorInterval / 4

// Cursor broadcasts c's cursor position in room to the room's other
// connections, rate limited and coalesced. It is never stored.
func (h *Hub) Cursor(ctx context.Context, c *Client, room string, cursor json.RawMessage) error {
	if err := presence.ValidateRoom(room); err != nil {
		return err
	}
	if len(cursor) == 0 {
		return presence.Errorf(presence.CodeInvalidArgument, "cursor needs \"cursor\": a JSON object")
	}
	cur, err := presence.CompactObject("cursor", cursor, presence.MaxCursorBytes)
	if err != nil {
		return err
	}
	sub := c.room(room)
	if sub == nil || sub.rt == nil {
		return notInRoom(room)
	}
	payload := h.cursorPayload(c, sub, cur)
	now := h.Now()
	cq := &h.rooms.cursors
	cq.mu.Lock()
	st := &sub.cursor
	if st.gone {
		cq.mu.Unlock()
		return nil
	}
	if !st.queued && now.Sub(st.last) >= CursorInterval {
		st.last = now
		cq.mu.Unlock()
		h.publishCursor(ctx, room, payload)
		return nil
	}
	if st.pending != nil {
		h.m.Coalesced.Inc()
	}
	st.pending = payload
	if !st.queued {
		st.queued = true
		cq.q.Set(sub, st.last.Add(CursorInterval))
		select {
		case cq.wake <- struct{}{}:
		default:
		}
	}
	cq.mu.Unlock()
	return nil
}

// cursorPayload encodes the bus event of a cursor, with the frame members
// receive.
func (h *Hub) cursorPayload(c *Client, sub *roomSub, cur json.RawMessage) []byte {
	rt := sub.rt
	rt.mu.Lock()
	inv := rt.seen[c.UserID].invisible
	rt.mu.Unlock()
	f := make([]byte, 0, 96+len(rt.name)+len(cur))
	f = append(f, `{"type":"cursor","room":`...)
	f = presence.AppendString(f, rt.name)
	f = append(f, `,"user_id":`...)
	f = presence.AppendString(f, c.UserID)
	f = append(f, `,"session_id":`...)
	f = presence.AppendString(f, c.SessionID)
	f = append(f, `,"cursor":`...)
	f = append(f, cur...)
	f = append(f, '}')
	b, _ := json.Marshal(roomEvent{Kind: kindCursor, User: c.UserID, Session: c.SessionID, Inv: inv, Frame: f})
	return b
}

// flushCursors sends every waiting cursor whose turn has come.
func (h *Hub) flushCursors(ctx context.Context, now time.Time) {
	cq := &h.rooms.cursors
	cq.mu.Lock()
	if next, ok := cq.q.Next(); !ok || next.After(now) {
		cq.mu.Unlock()
		return
	}
	due := cq.q.PopDue(now, 0, nil)
	type out struct {
		room    string
		payload []byte
	}
	outs := make([]out, 0, len(due))
	for _, sub := range due {
		st := &sub.cursor
		outs = append(outs, out{sub.room, st.pending})
		st.pending, st.queued, st.last = nil, false, now
	}
	cq.mu.Unlock()
	for _, o := range outs {
		h.publishCursor(ctx, o.room, o.payload)
	}
}

// dropCursor forgets sub's waiting cursor: its connection left the room.
func (h *Hub) dropCursor(sub *roomSub) {
	cq := &h.rooms.cursors
	cq.mu.Lock()
	sub.cursor.gone, sub.cursor.pending = true, nil
	cq.q.Remove(sub)
	cq.mu.Unlock()
}

func (cq *cursorQueue) empty() bool {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	return cq.q.Len() == 0
}

// startCursorFlusher runs the goroutine that sends waiting cursors. It
// sleeps while none wait.
func (h *Hub) startCursorFlusher() {
	cq := &h.rooms.cursors
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		var tick *time.Ticker
		var tc <-chan time.Time
		defer func() {
			if tick != nil {
				tick.Stop()
			}
		}()
		for {
			select {
			case <-h.stop:
				return
			case <-cq.wake:
				if tick == nil {
					tick = time.NewTicker(cursorStep)
					tc = tick.C
				}
			case <-tc:
				h.flushCursors(context.Background(), h.Now())
				if cq.empty() {
					tick.Stop()
					tick, tc = nil, nil
				}
			}
		}
	}()
}

// deliverCursor fans a cursor out to the room's local connections but its
// sender's, skipping viewers the sender is hidden from.
func (h *Hub) deliverCursor(rt *roomTopic, ev *roomEvent) {
	// The sender's settings are looked up before the room's lock is taken:
	// a cache miss reads the store.
	level := h.levelsFor(ev.User)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	inv := ev.Inv || rt.seen[ev.User].invisible
	n := 0
	for c, sub := range rt.subs {
		if c.SessionID == ev.Session || sub.snapV == pending {
			continue
		}
		if c.UserID != ev.User && (inv || level(c.UserID) == presence.LevelHidden) {
			continue
		}
		c.Send(ev.Frame)
		n++
	}
	h.m.MessagesOut.WithLabelValues("cursor").Add(float64(n))
}

// publishCursor sends a cursor to the room's nodes. A cursor lost on the
// way is replaced by the next one, so a failure is only logged.
func (h *Hub) publishCursor(ctx context.Context, room string, payload []byte) {
	if err := h.cfg.Bus.Publish(ctx, roomBusTopic(room), payload); err != nil {
		h.log.Debug("cursor publish failed", "room", room, "err", err)
	}
}
