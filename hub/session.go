package hub

import (
	"context"
	"encoding/json"
	"time"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// Open registers a new connection of userID whose credential expires at
// expires (zero: never). The caller sends the welcome and calls Disconnect
// when the socket is gone.
func (h *Hub) Open(userID, device string, expires time.Time, sink Sink) *Client {
	c := &Client{hub: h, UserID: userID, SessionID: randomID(12), sink: sink, device: device}
	c.writer = h.writers.assign()
	now := h.Now()
	c.lastSign.Store(now.UnixNano())
	next := now.Add(h.cfg.HeartbeatInterval)
	if !expires.IsZero() {
		c.expires.Store(expires.UnixNano())
		if expires.Before(next) {
			next = expires
		}
	}
	h.clientMu.Lock()
	h.clients[c] = struct{}{}
	h.byUser[userID] = append(h.byUser[userID], c)
	h.clientMu.Unlock()
	h.live.schedule(c, next)
	h.m.Add(h.m.Connections, 1)
	return c
}

// Welcome returns the welcome frame for c.
func (h *Hub) Welcome(c *Client, maxMessageBytes int) []byte {
	b, _ := json.Marshal(protocol.Welcome{
		Type:                protocol.TypeWelcome,
		UserID:              c.UserID,
		SessionID:           c.SessionID,
		HeartbeatIntervalMS: h.cfg.HeartbeatInterval.Milliseconds(),
		HeartbeatTTLMS:      h.cfg.HeartbeatTTL.Milliseconds(),
		OfflineGraceMS:      h.cfg.OfflineGrace.Milliseconds(),
		MaxMessageBytes:     maxMessageBytes,
	})
	return b
}

// Touch records a sign of life of c. It is the whole cost of a heartbeat:
// one atomic store; the store learns of it at the next liveness check.
func (h *Hub) Touch(c *Client) { c.lastSign.Store(h.Now().UnixNano()) }

// SetOnline opens c's presence session if it has none. device, if given,
// names the device of the session.
func (h *Hub) SetOnline(ctx context.Context, c *Client, device string) error {
	if device != "" {
		if err := checkDevice(device); err != nil {
			return err
		}
	}
	c.mu.Lock()
	if c.session || c.closed {
		c.mu.Unlock()
		return nil
	}
	if device != "" {
		c.device = device
	}
	dev := c.device
	node := h.node()
	c.node = node
	c.session = true
	c.touched = c.lastSign.Load()
	now := h.Now()
	c.idle, c.activeAt = false, now
	c.mu.Unlock()

	last := c.LastSign()
	sess := presence.Session{
		ID: c.SessionID, Device: dev, Node: node,
		ActiveAt: now, LastSeen: last, ExpiresAt: h.storedExpiry(last),
	}
	st, err := h.update(ctx, c.UserID, func(st *presence.UserState) error { return st.Connect(sess) })
	c.mu.Lock()
	if err != nil {
		c.session = false
	} else {
		c.kicks = st.Kicks
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	h.m.Add(h.m.Sessions, 1)
	return nil
}

// SetIdle records c's idle report.
func (h *Hub) SetIdle(ctx context.Context, c *Client, idle bool) error {
	if !c.IsSession() {
		return presence.Errorf(presence.CodeInvalidArgument, "no presence session: send set_online or heartbeat first")
	}
	now := h.Now()
	c.mu.Lock()
	c.idle = idle
	if !idle {
		c.activeAt = now
	}
	c.mu.Unlock()
	_, err := h.update(ctx, c.UserID, func(st *presence.UserState) error {
		st.SetIdle(c.SessionID, idle, now)
		return nil
	})
	return err
}

// SetOffline ends c's presence session at once, with no grace. The
// connection stays open as a watcher.
func (h *Hub) SetOffline(ctx context.Context, c *Client) error {
	c.mu.Lock()
	was := c.session
	c.session = false
	c.mu.Unlock()
	if !was {
		return nil
	}
	h.m.Add(h.m.Sessions, -1)
	// The client said it leaves now: last seen now, not at its last
	// heartbeat.
	now := h.Now()
	_, err := h.update(ctx, c.UserID, func(st *presence.UserState) error {
		st.Remove(c.SessionID, now)
		return nil
	})
	return err
}

// SetStatus applies a status change for userID and returns the user's own
// view of the result.
func (h *Hub) SetStatus(ctx context.Context, userID string, ch presence.StatusChange) (presence.Presence, error) {
	if err := presence.ValidateUserID(userID); err != nil {
		return presence.Presence{}, err
	}
	if err := ch.Validate(h.Now()); err != nil {
		return presence.Presence{}, err
	}
	st, err := h.update(ctx, userID, func(st *presence.UserState) error {
		st.Apply(ch)
		return nil
	})
	if err != nil {
		return presence.Presence{}, err
	}
	return st.Fold(), nil
}

// Disconnect is called once when c's socket is gone. Its session enters the
// offline grace: a reconnect within it is never seen by watchers.
func (h *Hub) Disconnect(c *Client) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	was := c.session
	c.session = false
	topics := make([]*topic, 0, c.subs.Len())
	for t := range c.subs.All() {
		topics = append(topics, t)
	}
	c.subs = smallMap[*topic, sent]{}
	c.out.reset()
	c.mu.Unlock()
	h.watching.release(c.UserID, len(topics))

	h.live.remove(c)
	h.detachRooms(c)
	h.clientMu.Lock()
	delete(h.clients, c)
	h.dropByUserLocked(c)
	h.clientMu.Unlock()
	h.m.Add(h.m.Connections, -1)
	for _, t := range topics {
		h.unwatch(c, t)
	}
	if !was {
		return
	}
	h.m.Add(h.m.Sessions, -1)
	// A closed or dropped socket was there until now: that is its last
	// sign of life, whatever its last heartbeat.
	now := h.Now()
	_, err := h.update(context.Background(), c.UserID, func(st *presence.UserState) error {
		st.Disconnect(c.SessionID, now, now, h.cfg.OfflineGrace)
		return nil
	})
	if err != nil {
		h.log.Warn("could not start offline grace; the session ends at its stored deadline", "user", c.UserID, "err", err)
	}
}

// Kick ends every session of userID at once and closes the user's
// connections on every node.
func (h *Hub) Kick(ctx context.Context, userID string) error {
	if err := presence.ValidateUserID(userID); err != nil {
		return err
	}
	now := h.Now()
	if _, err := h.update(ctx, userID, func(st *presence.UserState) error {
		st.KickAll(now)
		return nil
	}); err != nil {
		return err
	}
	payload, _ := json.Marshal(event{Kind: kindKick, UserID: userID})
	if err := h.cfg.Bus.Publish(ctx, controlTopic, payload); err != nil {
		return h.unavailable(err)
	}
	return nil
}

// control handles a payload on the control topic. Nil (a re-established
// subscription) needs nothing: a kick missed meanwhile already ended the
// sessions in the store, and each of their connections here is closed at
// its next liveness refresh, which finds the kick count moved.
func (h *Hub) control(payload []byte) {
	if payload == nil {
		if h.leased() {
			// With leases nothing refreshes the sessions: look for kicks
			// missed meanwhile now, one read per local session.
			h.Reassert()
		}
		return
	}
	var ev event
	if err := json.Unmarshal(payload, &ev); err != nil {
		h.log.Warn("bad control payload", "err", err)
		return
	}
	switch ev.Kind {
	case kindKick:
		h.closeUser(ev.UserID, protocol.CloseKicked, "disconnected by the server")
	case kindSettings:
		h.receiveSettings(&ev)
	}
}

func (h *Hub) closeUser(userID string, code int, reason string) {
	for _, c := range h.localClients(userID) {
		h.closeEnded(c, code, reason)
	}
}

// closeEnded closes c, whose session the store already ended: no grace
// follows. Nodes that missed a kick close their connections this way when
// they find the session gone (see refresh), so a kick racing with a
// liveness refresh cannot bring the session back either.
func (h *Hub) closeEnded(c *Client, code int, reason string) {
	c.mu.Lock()
	was := c.session
	c.session = false
	c.mu.Unlock()
	if was {
		h.m.Add(h.m.Sessions, -1)
	}
	h.m.Inc(h.m.Closes, "kicked")
	c.Close(code, reason)
}

// update runs op on a user's state in the store, settles the state at the
// current time, and publishes the result when a viewer could see a change.
func (h *Hub) update(ctx context.Context, userID string, op func(st *presence.UserState) error) (presence.UserState, error) {
	now := h.Now()
	var v0 uint64
	var wasInvisible bool
	var ended []presence.Session
	var owed, dropped []presence.RoomLeave
	locals := h.localClients(userID)
	st, err := h.cfg.Store.Update(ctx, userID, func(st *presence.UserState) error {
		st.UserID = userID
		before := st.Fold()
		v0, wasInvisible = st.Version, before.Invisible
		if err := op(st); err != nil {
			return err
		}
		if !h.leased() {
			h.keepAlive(st, locals, now)
		}
		ended = st.Settle(before, now, h.timing)
		owed, dropped = st.TakeLeaves(now, h.timing)
		return nil
	})
	if err != nil {
		return st, h.unavailable(err)
	}
	h.ended(ended)
	h.timers.schedule(userID, st.Deadline)
	h.droppedLeaves(userID, dropped)
	h.roomsAfterUpdate(ctx, &st, owed, dropped, now, wasInvisible)
	if st.Version != v0 {
		h.publish(ctx, &st, wasInvisible)
	}
	return st, nil
}

// localClients returns this node's connections of userID.
func (h *Hub) localClients(userID string) []*Client {
	h.clientMu.Lock()
	defer h.clientMu.Unlock()
	return append([]*Client(nil), h.byUser[userID]...)
}

func (h *Hub) dropByUserLocked(c *Client) {
	cs := h.byUser[c.UserID]
	for i, x := range cs {
		if x == c {
			cs = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(h.byUser, c.UserID)
	} else {
		h.byUser[c.UserID] = cs
	}
}

// keepAlive brings the stored liveness of this node's open sessions among
// locals up to date in st, so that a change this node writes never ends
// one of its own live sessions for a stored expiry that lapsed while the
// store could not be refreshed (an outage, a failover).
func (h *Hub) keepAlive(st *presence.UserState, locals []*Client, now time.Time) {
	for _, c := range locals {
		c.mu.Lock()
		open := c.session && !c.closed
		c.mu.Unlock()
		if last := c.LastSign(); open && now.Sub(last) < h.cfg.HeartbeatTTL {
			st.Touch(c.SessionID, last, last.Add(h.cfg.HeartbeatTTL+storeSlack))
		}
	}
}

// ended accounts for sessions the store ended by deadline.
func (h *Hub) ended(sessions []presence.Session) {
	for _, s := range sessions {
		if s.GraceUntil.IsZero() {
			h.m.Inc(h.m.Expiries, "ttl")
		} else {
			h.m.Inc(h.m.Expiries, "grace")
		}
	}
}

func checkDevice(d string) error {
	if len(d) > presence.MaxDeviceBytes {
		return presence.Errorf(presence.CodeInvalidArgument, "device is %d bytes, at most %d allowed", len(d), presence.MaxDeviceBytes)
	}
	for _, r := range d {
		if r < 0x20 || r == 0x7f {
			return presence.Errorf(presence.CodeInvalidArgument, "device must not contain control characters")
		}
	}
	return nil
}
