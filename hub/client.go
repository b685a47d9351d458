package hub

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// Client is one WebSocket connection as the hub sees it: a watcher of other
// users and, once it sends set_online or a heartbeat, a presence session.
type Client struct {
	hub       *Hub
	UserID    string
	SessionID string
	sink      Sink
	writer    int

	// lastSign is the unix-nano time of the last sign of life.
	lastSign atomic.Int64
	// expires is when the client's credential expires (unix nanos; 0: never).
	expires atomic.Int64
	// pingedAt is when the client was last pinged (unix nanos).
	pingedAt atomic.Int64

	mu      sync.Mutex
	device  string
	session bool // a presence session is open in the store
	// idle and activeAt mirror the session's last idle report, to write the
	// session back if the store lost it.
	idle     bool
	activeAt time.Time
	closed   bool
	// touched is the lastSign last written to the store.
	touched int64
	// kicks is the user's kick count when the session opened (see
	// presence.UserState.Kicks).
	kicks uint32
	// node is the node's name in the session's record (see leaseState):
	// a session opened under a name whose lease lapsed since was ended,
	// or is being ended, by another node and is never written back.
	node string
	// subs maps each watched topic to what this client was last sent of
	// it; awaitingSnapshot means a snapshot is on its way and drops every
	// update.
	subs  smallMap[*topic, sent]
	out   outbox
	rooms clientRooms
}

// sent is what a watcher was last sent of a topic: the user's version
// (low 56 bits; versions stay below 2^53) and the privacy level the view
// was made at (high byte). Keeping the level per watcher lets a privacy
// change be judged against what each watcher actually holds, whatever
// order the new settings and the change's own event reach this node in.
// Packing it into the version keeps a subscription at one word.
type sent uint64

const (
	versionBits      = 56
	versionMask      = 1<<versionBits - 1
	awaitingSnapshot = sent(pending)
)

// pending marks a snapshot on its way, for user and room subscriptions.
const pending = ^uint64(0)

func sentAt(v uint64, lvl presence.Level) sent {
	return sent(v&versionMask) | sent(lvl)<<versionBits
}

func (s sent) v() uint64             { return uint64(s) & versionMask }
func (s sent) level() presence.Level { return presence.Level(s >> versionBits) }

// Device returns the device name the client gave.
func (c *Client) Device() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.device
}

// IsSession reports whether the connection holds a presence session.
func (c *Client) IsSession() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// LastSign returns the time of the client's last sign of life.
func (c *Client) LastSign() time.Time { return time.Unix(0, c.lastSign.Load()) }

// Send queues a frame for the client. It never blocks on the socket.
func (c *Client) Send(frame []byte) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.enqueueLocked(frame, nil)
}

// Close closes c's connection with code and reason once the frames already
// queued for it have been written: a client closed for its message rate,
// a kick or an expired token still gets the replies it was owed, and the
// close frame tells it why. Frames queued after Close are dropped. Only a
// slow consumer is closed at once (its queue is what it failed to read).
// Close never blocks on the socket and may be called more than once; the
// first close wins.
func (c *Client) Close(code int, reason string) {
	c.mu.Lock()
	if c.closed || c.out.closeCode != 0 || c.out.closeSent {
		c.mu.Unlock()
		return
	}
	c.out.closeCode, c.out.closeReason = code, reason
	schedule := !c.out.queued
	c.out.queued = true
	c.mu.Unlock()
	if schedule {
		c.hub.writers.schedule(c)
	}
}

// enqueueLocked queues frame (coalescing with a pending frame of the same
// key), releases c.mu, and hands the client to its writer if needed. A
// client whose queue passes the bound is closed as a slow consumer.
func (c *Client) enqueueLocked(frame []byte, key *topic) {
	if c.out.closeCode != 0 || c.out.closeSent {
		c.mu.Unlock() // nothing follows a close
		return
	}
	// One frame always fits (a snapshot of 1,000 users is one frame); a
	// queue already past the bound is a reader that stopped draining.
	overflow := c.out.bytes > 0 && c.out.bytes+len(frame) > c.hub.cfg.MaxPendingBytes
	coalesced := c.out.push(frame, key)
	schedule := !c.out.queued && !overflow
	if schedule {
		c.out.queued = true
	}
	if overflow {
		c.out.reset()
	}
	c.mu.Unlock()
	if coalesced {
		c.hub.m.Coalesced.Inc()
	}
	if overflow {
		c.hub.m.Inc(c.hub.m.Closes, "slow_consumer")
		c.sink.Close(protocol.CloseSlowConsumer, "slow consumer: updates were not read in time")
		return
	}
	if schedule {
		c.hub.writers.schedule(c)
	}
}

// deliver queues the update rec to c through c's view of it at level lvl
// (frames encodes each view once per record), unless c has rec's version
// or newer, is waiting for a snapshot, or would learn nothing from it.
func (c *Client) deliver(t *topic, rec *record, lvl presence.Level, frames *viewFrames) bool {
	c.mu.Lock()
	last, ok := c.subs.Get(t)
	if !ok || c.closed || last == awaitingSnapshot || rec.p.V <= last.v() {
		c.mu.Unlock()
		return false
	}
	frame := frames.forViewer(c.UserID, lvl, last, rec)
	if frame == nil {
		// c holds the hidden view and keeps it. The version stays the one
		// it saw, below any it may see next; only a new level is noted.
		if lvl != last.level() {
			c.subs.Set(t, sentAt(last.v(), lvl))
		}
		c.mu.Unlock()
		return false
	}
	c.subs.Set(t, sentAt(rec.p.V, lvl))
	c.enqueueLocked(frame, t)
	return true
}

// flush writes the queued frames to the socket, then the close that
// followed them, if any. Called by the client's writer.
func (c *Client) flush() int {
	c.mu.Lock()
	frames := c.out.frames
	code, reason := c.out.closeCode, c.out.closeReason
	if code != 0 {
		c.out.closeCode, c.out.closeSent = 0, true
	}
	c.out.take()
	c.mu.Unlock()
	for _, f := range frames {
		if err := c.sink.WriteText(f); err != nil {
			break
		}
	}
	if code != 0 {
		c.sink.Close(code, reason)
	}
	return len(frames)
}

// outbox is a client's queue of frames not yet handed to the socket.
// Presence updates carry their topic as key: a newer one replaces a pending
// older one in place, so a slow reader gets the latest, not every step.
type outbox struct {
	frames [][]byte
	keys   []*topic
	index  map[*topic]int // built once the queue is long enough to need it
	bytes  int
	queued bool // handed to a writer, not yet flushed
	// closeCode and closeReason are a close queued behind the frames
	// (see Client.Close); closeSent notes that the writer sent it.
	closeCode   int
	closeReason string
	closeSent   bool
}

const outboxIndexAt = 16

func (o *outbox) push(frame []byte, key *topic) (coalesced bool) {
	if key != nil {
		i, ok := -1, false
		if o.index != nil {
			i, ok = o.index[key]
		} else {
			for j := len(o.keys) - 1; j >= 0; j-- {
				if o.keys[j] == key {
					i, ok = j, true
					break
				}
			}
		}
		if ok {
			o.bytes += len(frame) - len(o.frames[i])
			o.frames[i] = frame
			return true
		}
	}
	o.frames = append(o.frames, frame)
	o.keys = append(o.keys, key)
	o.bytes += len(frame)
	if o.index != nil && key != nil {
		o.index[key] = len(o.frames) - 1
	} else if o.index == nil && len(o.frames) >= outboxIndexAt {
		o.index = make(map[*topic]int, len(o.frames))
		for j, k := range o.keys {
			if k != nil {
				o.index[k] = j
			}
		}
	}
	return false
}

// take empties the queue after its frames were taken for writing.
func (o *outbox) take() {
	o.frames, o.keys, o.index, o.bytes, o.queued = nil, nil, nil, 0, false
}

func (o *outbox) reset() {
	o.frames, o.keys, o.index, o.bytes = nil, nil, nil, 0
}

// writerPool hands clients with queued frames to a fixed set of goroutines,
// so fan-out never waits on a socket and no connection owns a goroutine.
// Handing a client over never waits either: a client is queued to its
// writer at most once at a time (outbox.queued), so a writer's queue holds
// at most its share of the clients; what its channel cannot take waits in
// an overflow list the writer drains.
type writerPool struct {
	queues []*writerQueue
	next   atomic.Uint32
	done   chan struct{}
}

type writerQueue struct {
	ch       chan *Client // nil: a wake-up to drain the overflow
	spilled  atomic.Bool  // overflow is not empty
	mu       sync.Mutex
	overflow []*Client
}

// writerQueueLen is the channel length of each writer; clients beyond it
// go to the overflow list.
var writerQueueLen = 1 << 14

func (p *writerPool) start(n int, wg *sync.WaitGroup) {
	p.done = make(chan struct{})
	if n <= 0 {
		n = 2 * runtimeProcs()
	}
	p.queues = make([]*writerQueue, n)
	for i := range p.queues {
		q := &writerQueue{ch: make(chan *Client, writerQueueLen)}
		p.queues[i] = q
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case c := <-q.ch:
					if c != nil {
						c.flush()
					}
					q.drain()
				case <-p.done:
					return
				}
			}
		}()
	}
}

// drain flushes the clients that found the writer's channel full.
func (q *writerQueue) drain() {
	if !q.spilled.Load() {
		return
	}
	q.mu.Lock()
	spill := q.overflow
	q.overflow = nil
	q.spilled.Store(false)
	q.mu.Unlock()
	for _, c := range spill {
		c.flush()
	}
}

func (p *writerPool) assign() int { return int(p.next.Add(1) % uint32(len(p.queues))) }

// schedule hands c to its writer without waiting.
func (p *writerPool) schedule(c *Client) {
	q := p.queues[c.writer]
	select {
	case q.ch <- c:
		return
	default:
	}
	q.mu.Lock()
	q.overflow = append(q.overflow, c)
	q.spilled.Store(true)
	q.mu.Unlock()
	// If the channel is still full the writer has work ahead and drains
	// the overflow after it; otherwise wake it.
	select {
	case q.ch <- nil:
	default:
	}
}

func (p *writerPool) stop() { close(p.done) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
