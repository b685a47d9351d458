package hub

import (
	"context"
	"sync"
	"sync/atomic"
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

// roomActive is closed once a room's bus subscription took effect.
type roomActive struct {
	once sync.Once
	ch   chan struct{}
	// subscribed is set by the subscription's first nil: any later one
	// means it broke and came back.
	subscribed atomic.Bool
	// late is set when a join stopped waiting for the subscription.
	late atomic.Bool
}

func newRoomActive() *roomActive { return &roomActive{ch: make(chan struct{})} }

func (a *roomActive) mark() { a.once.Do(func() { close(a.ch) }) }

// roomDeliver is the bus callback of a room. The first nil marks the
// subscription active: the room's first local member waited for it before
// reading the room. A later nil — the subscription broke and came back —
// or a first one that a join gave up waiting for has the room re-read
// (resyncRooms): its members may have missed events meanwhile.
func (h *Hub) roomDeliver(name string, a *roomActive) func(p []byte) {
	return func(p []byte) {
		if p == nil {
			// A bus that subscribes at once delivers nil only when it
			// subscribed again.
			again := a.subscribed.Swap(true) || !h.subscribesAsync()
			a.mark()
			if again || a.late.Load() {
				h.rooms.resyncs.add(name)
			}
			return
		}
		a.mark()
		h.receiveRoom(name, p)
	}
}

func (h *Hub) subscribesAsync() bool {
	ab, ok := h.cfg.Bus.(AsyncBus)
	return ok && ab.SubscribesAsync()
}

// waitRoomActive waits, on a bus that subscribes asynchronously, for the
// subscription of the room c's sub belongs to.
func (h *Hub) waitRoomActive(ctx context.Context, c *Client, sub *roomSub) {
	if !h.subscribesAsync() {
		return
	}
	rt := c.topicOf(sub)
	if rt == nil {
		return
	}
	t := time.NewTimer(h.cfg.RoomActiveWait)
	defer t.Stop()
	select {
	case <-rt.active.ch:
	case <-ctx.Done():
	case <-t.C:
		rt.active.late.Store(true)
		h.log.Warn("room subscription not active yet; the room is re-read once it is", "room", rt.name)
	}
}
