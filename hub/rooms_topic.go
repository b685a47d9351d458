package hub

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/presenced/presenced/deadline"
	"github.com/presenced/presenced/presence"
)

// roomTopic is a room this node has local member connections in; the node
// is subscribed to the room's bus topic exactly while it exists.
//
// mu serialises the room's fan-out on this node, so every local member
// receives the room's events in one order.
type roomTopic struct {
	name string
	// active is closed once the node's bus subscription took effect.
	active *roomActive

	mu   sync.Mutex
	subs map[*Client]*roomSub
	// seen holds, per user, the newest event applied: an event at or below
	// it is stale (events are published after the store write, so two of
	// them may cross) and is dropped.
	seen map[string]mark
	// listed holds the members a page (room_state, room_members) showed a
	// local connection, at the page's version, until an event of the user
	// supersedes it: with seen, every member a local connection may hold,
	// which a resync (resyncRooms) compares with the store.
	listed map[string]mark
	// horizon is the newest version among pruned tombstones: an event of
	// an unknown user at or below it is stale too.
	horizon uint64
	pruneAt int
	// visible and v are the room's visible count and version at its newest
	// event.
	visible int
	v       uint64
	sum     *summary // large-room changes not yet summarised
}

// mark is what a node remembers of one member.
type mark struct {
	v                  uint64
	present, invisible bool
}

// roomSub is one local connection in one room.
type roomSub struct {
	room string
	rt   *roomTopic // set once attached, under the client's lock
	// Guarded by rt.mu:
	snapV    uint64       // events at or below are in the client's room_state; pending until it is queued
	held     []*roomEvent // small-room events that arrived while pending
	resync   bool         // held overflowed: the snapshot must be read again
	heldSum  []byte       // the summary that came while pending
	detached bool
	// blockers are the members known to block this connection's user
	// (see Blocker): its counts leave them out.
	blockers map[string]struct{}
	// Guarded by the hub's cursor lock:
	cursor cursorState
}

// maxHeld bounds the events kept for a connection while its room_state is
// being read; past it the snapshot is read again.
const maxHeld = 1024

// clientRooms is a connection's rooms and access, guarded by Client.mu.
type clientRooms struct {
	m map[string]*roomSub
	// patterns are the rooms the connection may join (see
	// presence.RoomAllowed); nil allows none.
	patterns []string
}

// AllowRooms sets the room patterns c may join (the token's rooms claim;
// "*" for every room). Call it before the connection's first message.
func (c *Client) AllowRooms(patterns []string) {
	c.mu.Lock()
	c.rooms.patterns = patterns
	c.mu.Unlock()
}

// InRoom reports whether c joined room.
func (c *Client) InRoom(room string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.rooms.m[room]
	return ok
}

// roomIndex maps room names to their topics, sharded like topicIndex; it
// also finds the local connection of a session, to detach it when the
// session ends.
type roomIndex struct {
	seed   maphash.Seed
	shards [topicShards]roomShard

	sessMu    sync.Mutex
	bySession map[string]*Client // local connections that are in rooms

	sumMu sync.Mutex
	sumQ  *deadline.Queue[*roomTopic] // rooms with a summary due

	resyncs resyncer // rooms to re-read, see resyncRooms

	cursors cursorQueue
}

type roomShard struct {
	mu sync.Mutex
	m  map[string]*roomTopic
}

func (ix *roomIndex) init() {
	ix.seed = maphash.MakeSeed()
	for i := range ix.shards {
		ix.shards[i].m = make(map[string]*roomTopic)
	}
	ix.bySession = make(map[string]*Client)
	ix.sumQ = deadline.New[*roomTopic]()
	ix.resyncs.init()
	ix.cursors.init()
}

func (ix *roomIndex) shard(name string) *roomShard {
	return &ix.shards[maphash.String(ix.seed, name)%topicShards]
}

func (ix *roomIndex) get(name string) *roomTopic {
	s := ix.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[name]
}

func roomBusTopic(room string) string { return "r:" + room }

// attachRoom adds sub (reserved among c's rooms) to its room's local
// topic, subscribing the node to the room with its first local member. sub
// is pending: events are held for it until its room_state is queued.
func (h *Hub) attachRoom(c *Client, name string, sub *roomSub) error {
	s := h.rooms.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := s.m[name]
	if rt == nil {
		rt = &roomTopic{name: name, subs: make(map[*Client]*roomSub),
			seen: make(map[string]mark), listed: make(map[string]mark), pruneAt: minPrune, active: newRoomActive()}
		if err := h.cfg.Bus.Subscribe(roomBusTopic(name), h.roomDeliver(name, rt.active)); err != nil {
			return h.unavailable(err)
		}
		s.m[name] = rt
		h.m.Add(h.m.Subscribed, 1)
	}
	c.mu.Lock()
	if c.rooms.m[name] != sub {
		c.mu.Unlock()
		h.dropRoomIfEmptyLocked(s, rt)
		return sessionEnded()
	}
	sub.rt = rt
	c.mu.Unlock()
	rt.mu.Lock()
	sub.snapV = pending
	rt.subs[c] = sub
	rt.mu.Unlock()
	h.rooms.sessMu.Lock()
	h.rooms.bySession[c.SessionID] = c
	h.rooms.sessMu.Unlock()
	return nil
}

// detachRoom stops delivering room events to c, unsubscribing the node
// from the room with its last local member.
func (h *Hub) detachRoom(c *Client, sub *roomSub) {
	rt := c.topicOf(sub)
	if rt == nil {
		return
	}
	s := h.rooms.shard(rt.name)
	s.mu.Lock()
	defer s.mu.Unlock()
	rt.mu.Lock()
	if rt.subs[c] == sub {
		delete(rt.subs, c)
	}
	sub.detached, sub.held, sub.heldSum = true, nil, nil
	rt.mu.Unlock()
	h.dropCursor(sub)
	h.dropRoomIfEmptyLocked(s, rt)
}

// dropRoomIfEmptyLocked forgets rt once it has no local member. Called
// with the shard's lock held.
func (h *Hub) dropRoomIfEmptyLocked(s *roomShard, rt *roomTopic) {
	rt.mu.Lock()
	empty := len(rt.subs) == 0
	rt.mu.Unlock()
	if !empty || s.m[rt.name] != rt {
		return
	}
	delete(s.m, rt.name)
	h.m.Add(h.m.Subscribed, -1)
	h.rooms.sumMu.Lock()
	h.rooms.sumQ.Remove(rt)
	h.rooms.sumMu.Unlock()
	if err := h.cfg.Bus.Unsubscribe(roomBusTopic(rt.name)); err != nil {
		h.log.Warn("bus unsubscribe failed", "room", rt.name, "err", err)
	}
}

// detachRooms detaches every room of c: its socket closed (its membership
// lasts until its session ends) or its session ended.
func (h *Hub) detachRooms(c *Client) {
	c.mu.Lock()
	subs := c.rooms.m
	c.rooms.m = nil
	c.mu.Unlock()
	h.rooms.sessMu.Lock()
	if h.rooms.bySession[c.SessionID] == c {
		delete(h.rooms.bySession, c.SessionID)
	}
	h.rooms.sessMu.Unlock()
	for _, sub := range subs {
		h.detachRoom(c, sub)
	}
}

// topicOf returns the topic sub is attached to, or nil.
func (c *Client) topicOf(sub *roomSub) *roomTopic {
	c.mu.Lock()
	defer c.mu.Unlock()
	return sub.rt
}

// localClient returns this node's connection of a session in rooms, or nil.
func (h *Hub) localClient(sessionID string) *Client {
	h.rooms.sessMu.Lock()
	defer h.rooms.sessMu.Unlock()
	return h.rooms.bySession[sessionID]
}

// accept records ev as the newest of its user and reports whether it is
// (false: stale, drop it). Called with rt.mu held.
func (rt *roomTopic) accept(ev *roomEvent) bool {
	m, ok := rt.seen[ev.User]
	if ok && ev.V <= m.v || !ok && ev.V <= rt.horizon {
		return false
	}
	rt.record(ev)
	return true
}

// record makes ev the newest of its user. Called with rt.mu held.
func (rt *roomTopic) record(ev *roomEvent) {
	rt.seen[ev.User] = mark{v: ev.V, present: ev.Member != nil, invisible: ev.Member != nil && ev.Member.Invisible}
	if l, ok := rt.listed[ev.User]; ok && l.v <= ev.V {
		delete(rt.listed, ev.User)
	}
	if ev.V > rt.v {
		rt.v, rt.visible = ev.V, ev.Visible
	}
	if len(rt.seen) >= rt.pruneAt {
		rt.prune()
	}
}

// held returns what the node last told its connections of user: the newer
// of its newest event and the newest page that listed it. ok is false
// when no local connection was told anything of user.
func (rt *roomTopic) held(user string) (m mark, ok bool) {
	m, ok = rt.seen[user]
	if l, listed := rt.listed[user]; listed && (!ok || l.v > m.v) {
		return l, true
	}
	return m, ok
}

// list records that page showed its members to a local connection.
// Called with rt.mu held.
func (rt *roomTopic) list(page *presence.RoomPage) {
	for _, m := range page.Members {
		if k, ok := rt.held(m.UserID); ok && k.v >= page.V {
			continue
		}
		rt.listed[m.UserID] = mark{v: page.V, present: true, invisible: m.Invisible}
	}
}

// Tombstones (users who left) are kept until pruneLag versions later: an
// event that late is treated as lost.
const (
	pruneLag = 4096
	minPrune = 1024
)

func (rt *roomTopic) prune() {
	for u, m := range rt.seen {
		if !m.present && m.v+pruneLag < rt.v {
			delete(rt.seen, u)
			rt.horizon = max(rt.horizon, m.v)
		}
	}
	rt.pruneAt = max(minPrune, 2*len(rt.seen))
}

// policyLoadTimeout bounds a privacy settings load made ahead of a room
// fan-out, as the privacy cache bounds its own.
const policyLoadTimeout = 2 * time.Second

// deliverMember fans a member event out to the room's local connections.
func (h *Hub) deliverMember(rt *roomTopic, ev *roomEvent) {
	// Load the member's privacy settings, if they are not cached, before
	// the room's lock is taken: the Policy is asked under it. (Local
	// viewers' own settings are cached while they are connected.) A
	// failure here is met again, and handled, by the Policy.
	ctx, cancel := context.WithTimeout(context.Background(), policyLoadTimeout)
	_ = h.preparePolicy(ctx, []string{ev.User})
	cancel()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if !rt.accept(ev) {
		h.m.Inc(h.m.Dropped, "stale")
		return
	}
	h.fanMember(rt, ev)
}

// fanMember sends an accepted member event to the room's local
// connections, or adds it to the room's summary. Called with rt.mu held.
func (h *Hub) fanMember(rt *roomTopic, ev *roomEvent) {
	if h.large(ev.Count) {
		h.summarize(rt, ev)
		return
	}
	var f memberFrames
	blocker := h.eventBlocker(ev)
	n := 0
	for c, sub := range rt.subs {
		if sub.snapV == pending {
			if len(sub.held) < maxHeld {
				sub.held = append(sub.held, ev)
			} else {
				sub.resync = true
			}
			continue
		}
		if ev.V <= sub.snapV {
			continue
		}
		if frame := h.memberEventFor(&f, blocker, sub, rt.name, c.UserID, ev); frame != nil {
			c.Send(frame)
			n++
		}
	}
	h.m.MessagesOut.WithLabelValues("room_event").Add(float64(n))
}

// sees reports whether viewer sees user as a member with the given mark:
// an invisible member, or one the Policy hides from viewer, is not
// listed. Members always see themselves.
func (h *Hub) sees(viewer, user string, present, invisible bool) bool {
	if !present {
		return false
	}
	if viewer == "" || viewer == user {
		return true
	}
	return !invisible && h.level(viewer, user) != presence.LevelHidden
}

// memberFrames caches the encoded frames of one member event.
type memberFrames struct {
	join, update, leave []byte
}

// forViewer returns what viewer receives for ev, or nil: the event turns
// into room_join, room_leave or room_update according to what the viewer
// could see before and after it.
func (f *memberFrames) forViewer(h *Hub, room, viewer string, ev *roomEvent) []byte {
	hidden := viewer != ev.User && h.level(viewer, ev.User) == presence.LevelHidden
	if hidden {
		return nil
	}
	self := viewer == ev.User
	before := ev.Was && (self || !ev.WasInv)
	after := ev.Member != nil && (self || !ev.Member.Invisible)
	switch {
	case !before && after:
		if f.join == nil {
			f.join = memberFrame(typeRoomJoin, room, ev)
		}
		return f.join
	case before && after:
		if self && ev.InvOnly {
			return nil
		}
		if f.update == nil {
			f.update = memberFrame(typeRoomUpdate, room, ev)
		}
		return f.update
	case before && !after:
		if f.leave == nil {
			f.leave = leaveFrame(room, ev)
		}
		return f.leave
	}
	return nil
}

// install queues c's room_state (frame, of page) and then the events held
// while it was read. It reports false when the held events overflowed and
// the snapshot must be read again, unless force: the connection then
// misses some changes until the next ones.
func (h *Hub) install(c *Client, sub *roomSub, page *presence.RoomPage, frame []byte, force bool) bool {
	rt := sub.rt
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if sub.detached {
		return true
	}
	if sub.resync {
		sub.resync, sub.held = false, nil
		if !force {
			return false
		}
	}
	v := page.V
	sub.snapV = v
	rt.list(page)
	h.noteBlockers(sub, c.UserID, page)
	c.Send(frame)
	for _, ev := range sub.held {
		if ev.V > v {
			var f memberFrames
			if fr := h.memberEventFor(&f, h.eventBlocker(ev), sub, rt.name, c.UserID, ev); fr != nil {
				c.Send(fr)
			}
		}
	}
	if sub.heldSum != nil {
		c.Send(sub.heldSum)
	}
	sub.held, sub.heldSum = nil, nil
	return true
}

// shown records that c, which may be in room, was shown page of it.
func (h *Hub) shown(c *Client, room string, page *presence.RoomPage) {
	sub := c.room(room)
	if sub == nil {
		return
	}
	rt := c.topicOf(sub)
	if rt == nil {
		return
	}
	rt.mu.Lock()
	if !sub.detached {
		rt.list(page)
	}
	rt.mu.Unlock()
}

// scheduleSummary makes rt's summary due at t unless one is already due.
func (h *Hub) scheduleSummary(rt *roomTopic, t time.Time) {
	h.rooms.sumMu.Lock()
	if _, ok := h.rooms.sumQ.At(rt); !ok {
		h.rooms.sumQ.Set(rt, t)
	}
	h.rooms.sumMu.Unlock()
}
