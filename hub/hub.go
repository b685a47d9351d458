// Package hub runs presence on one node: it holds the node's connections,
// turns their messages into state changes in the Store, publishes visible
// changes on the Bus, and fans the changes it receives out to the local
// subscribers through each viewer's privacy view.
//
// Lock order: topic shard lock, then a client's lock. For rooms: room shard
// lock, then a room's lock, then a client's lock; the summary and cursor
// queue locks are taken last. The liveness lock is never held with any of
// them. No lock is held across Store or Bus calls, except that a shard's
// lock is held while its topic is subscribed or unsubscribed on the Bus.
// A fan-out holds no topic shard lock while it asks the Policy for levels
// or queues frames (see topicIndex.eachWatcher).
package hub

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/presenced/presenced/metrics"
	"github.com/presenced/presenced/presence"
)

// Store keeps the presence state of every user: in memory, in an embedded
// database, or in Redis shared by several nodes.
type Store interface {
	// Update loads a user's state (a fresh one if unknown), runs fn on it and
	// saves the result atomically. fn may run more than once when the store
	// retries on a concurrent change, so it must only touch st. The store
	// indexes st.Deadline for ClaimDue.
	Update(ctx context.Context, userID string, fn func(st *presence.UserState) error) (presence.UserState, error)
	// Load returns the states of the given users; unknown users are absent.
	Load(ctx context.Context, userIDs []string) (map[string]presence.UserState, error)
	// ClaimDue returns up to max users whose deadline is at or before now,
	// each handed to one caller only across every node. With an error it may
	// still return users it claimed; the caller settles them.
	ClaimDue(ctx context.Context, now time.Time, max int) ([]string, error)
}

// StateReader is an optional ability of a Store: reading users' states in
// place rather than copying them into a map. Bulk reads use it when the
// store has it; at 1,000 users a read, the copies were most of what the
// read allocated (and so of the garbage collections that made its slowest
// reads slow).
type StateReader interface {
	// ReadStates calls fn once per id, in order, with the user's state or
	// nil for an unknown user. fn must neither keep nor modify st.
	ReadStates(ctx context.Context, userIDs []string, fn func(userID string, st *presence.UserState)) error
}

// Bus carries events between nodes. A node subscribes to a topic only while
// it has local interest in it.
type Bus interface {
	// Publish sends payload to every node subscribed to topic, this one
	// included.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe starts delivering topic's payloads to deliver. The hub calls
	// it once per topic, under its locks, and pairs it with one Unsubscribe,
	// so it must not block: a bus that subscribes asynchronously records the
	// interest and returns. deliver(nil) tells the hub that the subscription
	// took effect or was re-established and payloads published before may
	// have been missed; the hub re-reads the topic's state.
	Subscribe(topic string, deliver func(payload []byte)) error
	// Unsubscribe stops delivering topic. Like Subscribe it must not block.
	Unsubscribe(topic string) error
}

// Policy decides how much of target's presence viewer may see. It is called
// once per delivery, so it must answer from memory.
type Policy interface {
	Level(viewer, target string) presence.Level
}

// Sink is the hub's view of a client's transport.
type Sink interface {
	// WriteText queues one text frame without blocking. b is shared with
	// other clients and never modified.
	WriteText(b []byte) error
	// Ping sends a WebSocket ping.
	Ping() error
	// Close sends a close frame with code and reason, then closes.
	Close(code int, reason string)
}

// Config configures a Hub. Zero values mean the documented defaults.
type Config struct {
	Store Store
	Bus   Bus
	// Policy filters what viewers see. Nil means everyone sees everything.
	Policy Policy
	// Clock reads the time. Nil means the system clock.
	Clock presence.Clock
	// Node names this node in session records and, with a suffix for the
	// run, in its lease (see Leases). Empty means a random name.
	Node string
	// HeartbeatInterval is how often a quiet connection is pinged. Zero means 15s.
	HeartbeatInterval time.Duration
	// HeartbeatTTL is how long a connection may stay silent. Zero means 30s.
	HeartbeatTTL time.Duration
	// OfflineGrace is how long a closed session still counts as live. Zero
	// means 5s; a negative value means none.
	OfflineGrace time.Duration
	// AwayAfter turns a session idle when it stops reporting activity. Zero
	// means 5m; a negative value means never.
	AwayAfter time.Duration
	// MaxSubscriptions bounds the users one connection watches. Zero means 10,000.
	MaxSubscriptions int
	// MaxWatchedPerUser bounds the users watched by all of one user's
	// connections on this node together, so that a user cannot multiply
	// MaxSubscriptions by opening connections. Zero means 50,000; a
	// negative value means no bound.
	MaxWatchedPerUser int
	// MaxPendingBytes bounds what a client may have queued and unsent before
	// it is closed as a slow consumer. Zero means 1 MiB.
	MaxPendingBytes int
	// TickInterval is how often due deadlines are processed. Zero means 50ms.
	TickInterval time.Duration
	// Writers is the number of goroutines writing to sockets. Zero means 2×GOMAXPROCS.
	Writers int
	Logger  *slog.Logger
	// Metrics receives the hub's counters. Nil means unregistered ones.
	Metrics *metrics.Metrics
	RoomConfig
}

// storeSlack is how far past the TTL a session's stored deadline lies, on
// a store without node leases (with them, records carry no expiry): the
// node holding a connection ends it at the TTL itself; the store's deadline
// is the backstop that ends the sessions of a node that died, so it sets
// how long after a node's death its users go offline (TTL + slack at most).
// A live session is refreshed about once per heartbeat interval with a
// sign of life at most a pong check old (see checkClient), so the margin
// against a late refresh is TTL − interval − pong check + slack; the slack
// itself only needs to cover one tick and the store's latency.
const storeSlack = 500 * time.Millisecond

func (c *Config) setDefaults() error {
	if c.Store == nil || c.Bus == nil {
		return fmt.Errorf("hub: Store and Bus are required")
	}
	if c.Clock == nil {
		c.Clock = presence.SystemClock{}
	}
	if c.Node == "" {
		c.Node = randomID(6)
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 15 * time.Second
	}
	if c.HeartbeatTTL == 0 {
		c.HeartbeatTTL = 30 * time.Second
	}
	if c.HeartbeatTTL <= c.HeartbeatInterval {
		return fmt.Errorf("hub: HeartbeatTTL (%s) must be longer than HeartbeatInterval (%s)", c.HeartbeatTTL, c.HeartbeatInterval)
	}
	switch {
	case c.OfflineGrace == 0:
		c.OfflineGrace = 5 * time.Second
	case c.OfflineGrace < 0:
		c.OfflineGrace = 0
	}
	switch {
	case c.AwayAfter == 0:
		c.AwayAfter = 5 * time.Minute
	case c.AwayAfter < 0:
		c.AwayAfter = 0
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = 10000
	}
	if c.MaxWatchedPerUser == 0 {
		c.MaxWatchedPerUser = 50000
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = 1 << 20
	}
	if c.TickInterval == 0 {
		c.TickInterval = 50 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = metrics.New(nil)
	}
	return c.setRoomDefaults()
}

// Hub is one node's presence engine. Its methods are safe for concurrent use.
type Hub struct {
	cfg    Config
	timing presence.Timing
	log    *slog.Logger
	m      *metrics.Metrics

	topics   topicIndex
	rooms    roomIndex
	live     liveness
	writers  writerPool
	clientMu sync.Mutex
	clients  map[*Client]struct{}
	byUser   map[string][]*Client
	watching watchCounts

	resyncs resyncer
	reaping reapState
	lease   leaseState
	timers  timerQueue
	tickMu  sync.Mutex // one Tick at a time
	stop    chan struct{}
	done    sync.WaitGroup
}

// New returns a Hub. Call Start to run its timers and Close to stop them.
func New(cfg Config) (*Hub, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	h := &Hub{
		cfg:     cfg,
		timing:  presence.Timing{TTL: cfg.HeartbeatTTL, Grace: cfg.OfflineGrace, AwayAfter: cfg.AwayAfter},
		log:     cfg.Logger,
		m:       cfg.Metrics,
		clients: make(map[*Client]struct{}),
		byUser:  make(map[string][]*Client),
		stop:    make(chan struct{}),
	}
	h.topics.init()
	h.rooms.init()
	h.live.init()
	h.timers.init()
	h.initLease()
	h.resyncs.init()
	h.writers.start(cfg.Writers, &h.done)
	if err := cfg.Bus.Subscribe(controlTopic, h.control); err != nil {
		h.writers.stop()
		return nil, fmt.Errorf("hub: subscribing the control topic: %w", err)
	}
	// Take the lease before any session is written: a node that died
	// before its first tick must still have its sessions ended.
	h.renewLease(context.Background(), h.Now())
	h.done.Add(2)
	go h.runResync(&h.resyncs, resyncBatch, "users", h.resyncBatch)
	go h.runResync(&h.rooms.resyncs, 1, "rooms", h.resyncRooms)
	return h, nil
}

// Config returns the hub's configuration with defaults applied.
func (h *Hub) Config() Config { return h.cfg }

// Now returns the hub's current time.
func (h *Hub) Now() time.Time { return h.cfg.Clock.Now() }

// Start runs the timer loop that pings quiet connections and processes due
// deadlines every TickInterval, until Close.
func (h *Hub) Start() {
	h.startCursorFlusher()
	if h.leased() {
		// On its own, so that a tick waiting on a slow store does not let
		// the lease lapse.
		h.everyTick(func() { h.renewLease(context.Background(), h.Now()) })
	}
	h.everyTick(func() { h.Tick(context.Background()) })
}

// everyTick runs f every TickInterval on a goroutine of its own, until
// Close.
func (h *Hub) everyTick(f func()) {
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(h.cfg.TickInterval)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				f()
			}
		}
	}()
}

// Tick does whatever is due at the hub clock's current time: pings, local
// session expiry, and the store's deadlines. Start calls it; tests with a
// fake clock may call it directly.
func (h *Hub) Tick(ctx context.Context) {
	h.tickMu.Lock()
	defer h.tickMu.Unlock()
	now := h.Now()
	// The lease first: a node back from a stall learns that its lease
	// lapsed before anything it does could write back what was ended.
	h.leaseTick(ctx, now)
	h.checkLiveness(ctx, now)
	h.reap(ctx, now)
	h.roomTick(ctx, now)
}

// Close stops the timer loop and the writers. Connections are closed by the
// transport that owns them; see Shutdown.
func (h *Hub) Close() {
	select {
	case <-h.stop:
		return
	default:
	}
	close(h.stop)
	h.writers.stop()
	h.done.Wait()
	h.releaseLease()
}

// Shutdown closes every client connection with code and reason. Sessions are
// not ended: a client that reconnects within the grace is never seen leaving.
func (h *Hub) Shutdown(code int, reason string) {
	for _, c := range h.allClients() {
		c.Close(code, reason)
	}
}

// allClients returns the open connections, for work done outside clientMu.
func (h *Hub) allClients() []*Client {
	h.clientMu.Lock()
	defer h.clientMu.Unlock()
	all := make([]*Client, 0, len(h.clients))
	for c := range h.clients {
		all = append(all, c)
	}
	return all
}

// ClientCount returns the number of open connections.
func (h *Hub) ClientCount() int {
	h.clientMu.Lock()
	defer h.clientMu.Unlock()
	return len(h.clients)
}

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
