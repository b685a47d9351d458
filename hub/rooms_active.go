package hub

import (
	"context"
	"sync"
	"time"
)

// AsyncBus is an optional ability of a Bus that subscribes in the
// background (Redis): SubscribesAsync reports that a subscription takes
// effect only when deliver(nil) is called. A room's first local member
// then waits for it before reading the room, so that no event published
// between the read and the subscription is missed.
type AsyncBus interface {
	SubscribesAsync() bool
}

// roomActiveWait bounds how long a join waits for its room's
// subscription; past it the join goes on and may miss events published
// meanwhile (its member catches up at the next room_state).
const roomActiveWait = 2 * time.Second

// roomActive is closed once a room's bus subscription took effect.
type roomActive struct {
	once sync.Once
	ch   chan struct{}
}

func newRoomActive() *roomActive { return &roomActive{ch: make(chan struct{})} }

func (a *roomActive) mark() { a.once.Do(func() { close(a.ch) }) }

// roomDeliver is the bus callback of a room: nil marks the subscription
// active. A nil after a reconnect needs nothing more: the room's members
// may have missed events meanwhile and catch up at their next room_state
// (docs/redis.md).
func (h *Hub) roomDeliver(name string, a *roomActive) func(p []byte) {
	return func(p []byte) {
		if p == nil {
			a.mark()
			return
		}
		a.mark()
		h.receiveRoom(name, p)
	}
}

// waitRoomActive waits, on a bus that subscribes asynchronously, for the
// subscription of the room c's sub belongs to.
func (h *Hub) waitRoomActive(ctx context.Context, c *Client, sub *roomSub) {
	ab, ok := h.cfg.Bus.(AsyncBus)
	if !ok || !ab.SubscribesAsync() {
		return
	}
	c.mu.Lock()
	rt := sub.rt
	c.mu.Unlock()
	if rt == nil {
		return
	}
	t := time.NewTimer(roomActiveWait)
	defer t.Stop()
	select {
	case <-rt.active.ch:
	case <-ctx.Done():
	case <-t.C:
		h.log.Warn("room subscription not active yet; the joining member may miss events", "room", rt.name)
	}
}
