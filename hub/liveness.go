package hub

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/presenced/presenced/deadline"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// liveness schedules each connection's next check: a ping when it has been
// quiet for a heartbeat interval, its end when silent for the TTL. A
// heartbeat only stores a timestamp; a connection is looked at about once
// per interval, whatever its traffic.
type liveness struct {
	mu  sync.Mutex
	q   *deadline.Queue[*Client]
	buf []*Client
}

func (l *liveness) init() { l.q = deadline.New[*Client]() }

func (l *liveness) schedule(c *Client, at time.Time) {
	l.mu.Lock()
	l.q.Set(c, at)
	l.mu.Unlock()
}

func (l *liveness) remove(c *Client) {
	l.mu.Lock()
	l.q.Remove(c)
	l.mu.Unlock()
}

// checkLiveness handles every connection whose check is due at now. A
// connection heard from within the interval, whose token holds and whose
// session needs no write, is only put back for its next check, here:
// that is most connections, with node leases, and starting a goroutine
// for each was most of what looking at them cost. The others (a ping, an
// end, a close, a store write) go to checkClient, in parallel.
func (h *Hub) checkLiveness(ctx context.Context, now time.Time) {
	h.live.mu.Lock()
	due := h.live.q.PopDue(now, 0, h.live.buf[:0])
	h.live.buf = due[:0]
	h.live.mu.Unlock()
	rest := due[:0]
	for _, c := range due {
		if next, ok := h.quiet(c, now); ok {
			h.live.schedule(c, next)
		} else {
			rest = append(rest, c)
		}
	}
	parallel(len(rest), func(i int) { h.checkClient(ctx, rest[i], now) })
}

// quiet reports when c is next due if its check at now has nothing to do
// but that: heard from within the interval, its token valid, no write owed.
func (h *Hub) quiet(c *Client, now time.Time) (time.Time, bool) {
	signNS := c.lastSign.Load()
	last := time.Unix(0, signNS)
	if now.Sub(last) >= h.cfg.HeartbeatInterval {
		return time.Time{}, false
	}
	if exp := c.expires.Load(); exp != 0 && now.UnixNano() >= exp {
		return time.Time{}, false
	}
	c.mu.Lock()
	owed := h.refreshOwed(c, signNS)
	c.mu.Unlock()
	if owed {
		return time.Time{}, false
	}
	return c.beforeExpiry(last.Add(h.cfg.HeartbeatInterval)), true
}

// refreshOwed reports whether c's session record is to be written with the
// sign of life signNS: without node leases whenever it moved; with them
// only when Reassert asked (touched reset). c.mu is held.
func (h *Hub) refreshOwed(c *Client, signNS int64) bool {
	return c.session && !c.closed && signNS != c.touched && (!h.leased() || c.touched == 0)
}

// beforeExpiry is next, or the credential's expiry if that comes first.
func (c *Client) beforeExpiry(next time.Time) time.Time {
	if exp := c.expires.Load(); exp != 0 && exp < next.UnixNano() {
		return time.Unix(0, exp)
	}
	return next
}

// tickParallelism bounds the store calls one tick makes at once. With a
// networked store, the refreshes and settles of a tick overlap (and
// pipeline) instead of adding up their round trips, and a store that hangs
// delays a tick by one timeout, not one per connection.
const tickParallelism = 64

// parallel runs f(0..n-1), at most tickParallelism at a time, and waits.
func parallel(n int, f func(i int)) {
	if n <= 1 {
		if n == 1 {
			f(0)
		}
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, tickParallelism)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

func (h *Hub) checkClient(ctx context.Context, c *Client, now time.Time) {
	signNS := c.lastSign.Load()
	last := time.Unix(0, signNS)
	silent := now.Sub(last)
	if silent >= h.cfg.HeartbeatTTL {
		h.expire(ctx, c, last)
		return
	}
	if exp := c.expires.Load(); exp != 0 && now.UnixNano() >= exp {
		h.m.Inc(h.m.Closes, "token_expired")
		c.Close(protocol.CloseAuthExpired, "token expired; reconnect with a new one")
		return
	}
	next := last.Add(h.cfg.HeartbeatInterval)
	if silent >= h.cfg.HeartbeatInterval {
		if pinged := c.pingedAt.Load(); pinged <= signNS || now.UnixNano()-pinged >= int64(h.cfg.HeartbeatInterval) {
			_ = c.sink.Ping()
			c.pingedAt.Store(now.UnixNano())
			// Look again soon, to store the pong while it is fresh: the
			// stored last sign of life is what other nodes end the session
			// by if this node dies, so a stale one would end it early (and
			// leave little margin against a late refresh).
			next = now.Add(h.pongCheck())
		} else {
			next = time.Unix(0, pinged).Add(h.cfg.HeartbeatInterval)
		}
		if end := last.Add(h.cfg.HeartbeatTTL); end.Before(next) {
			next = end
		}
	}
	c.mu.Lock()
	refresh := h.refreshOwed(c, signNS)
	if refresh {
		c.touched = signNS
	}
	c.mu.Unlock()
	if refresh {
		h.refresh(ctx, c, last)
	}
	h.live.schedule(c, c.beforeExpiry(next))
}

// storedExpiry is the expiry a session's record carries when its last
// sign of life is last: none with node leases (the node's lease stands
// for its sessions), else TTL + slack past it.
func (h *Hub) storedExpiry(last time.Time) time.Time {
	if h.leased() {
		return time.Time{}
	}
	return last.Add(h.cfg.HeartbeatTTL + storeSlack)
}

// pongCheck is how long after a ping the connection is looked at again.
func (h *Hub) pongCheck() time.Duration { return min(h.cfg.HeartbeatInterval/4, time.Second) }

// refresh writes a session's last sign of life and moves its stored
// expiry. A session missing from the store while its connection is open
// was lost there (ended by another node's reaper after a late refresh or a
// store outage, or lost in a store failover): it is written back, so the
// store converges on the connections that exist — unless the user was
// kicked since it opened (a kick whose message this node missed): then
// the connection is closed as the kick would have.
func (h *Hub) refresh(ctx context.Context, c *Client, last time.Time) {
	expires := h.storedExpiry(last)
	reasserted, kicked := false, false
	if _, err := h.update(ctx, c.UserID, func(st *presence.UserState) error {
		reasserted, kicked = false, false
		if st.Session(c.SessionID) != nil {
			if !h.leased() {
				st.Touch(c.SessionID, last, expires)
			}
			return nil
		}
		c.mu.Lock()
		live, device, idle, active, kicks, node := c.session && !c.closed, c.device, c.idle, c.activeAt, c.kicks, c.node
		c.mu.Unlock()
		if !live {
			return nil // ended meanwhile by this node: nothing to restore
		}
		if st.Kicks != kicks {
			kicked = true
			return nil
		}
		if h.leased() && (node != h.node() || !h.lease.held.Load()) {
			// The lease under which the session opened lapsed (another node
			// ended it), or may have: not renewed since the store came
			// back. Nothing is written back; the lease's next renewal
			// says which, and reasserts or closes.
			return nil
		}
		reasserted = true
		return st.Connect(presence.Session{
			ID: c.SessionID, Device: device, Node: h.node(), Idle: idle,
			ActiveAt: active, LastSeen: last, ExpiresAt: expires,
		})
	}); err != nil {
		h.log.Warn("could not refresh session", "user", c.UserID, "err", err)
		return
	}
	if kicked {
		h.log.Info("session was ended by a disconnect this node did not hear of; closing", "user", c.UserID, "session", c.SessionID)
		h.closeEnded(c, protocol.CloseKicked, "disconnected by the server")
		return
	}
	if reasserted {
		h.m.Reasserted.Inc()
		h.log.Info("session was missing from the store; written back", "user", c.UserID, "session", c.SessionID)
	}
}

// expire ends a connection that gave no sign of life for the TTL: its
// session ends now, with no grace, last seen at its last sign of life.
func (h *Hub) expire(ctx context.Context, c *Client, last time.Time) {
	c.mu.Lock()
	was := c.session && !c.closed
	c.session = false
	c.mu.Unlock()
	if was {
		h.m.Add(h.m.Sessions, -1)
		h.m.Inc(h.m.Expiries, "ttl")
		if _, err := h.update(ctx, c.UserID, func(st *presence.UserState) error {
			st.Remove(c.SessionID, last)
			return nil
		}); err != nil {
			h.log.Warn("could not end expired session; it ends at its stored deadline", "user", c.UserID, "err", err)
		}
	}
	h.m.Inc(h.m.Closes, "ttl")
	c.Close(protocol.CloseExpired, "no sign of life within the heartbeat TTL")
}

// reapBatch bounds the users settled per claim, so one tick cannot starve
// the rest of the node.
const reapBatch = 1000

// reapHold is how long the reaper waits after every part of the store
// answers again: long enough for every node to write back its live
// sessions (see Reassert), whose stored expiries may have passed while
// they could not be refreshed, before any of them is ended for it.
const reapHold = 2 * time.Second

// settleWarnEvery spaces the warnings about users that could not be
// settled. While part of the store is down, the users whose records live
// there are claimed again at every lease end and fail again: one line with
// a count, not one per user and tick.
const settleWarnEvery = 10 * time.Second

// reapState tracks store failures across ticks; touched by Tick only.
type reapState struct {
	// failed holds the parts of the store the last claim could not reach
	// (see failedParts); zero when it reached them all.
	failed    uint64
	holdUntil time.Time
	nextPoll  time.Time // with node leases, the store is polled once per leaseEvery
	// readable are users claimed while part of the store failed whose
	// records could then be read: settled at the next tick unless that
	// tick sees a failed part answer again.
	readable []string
	// held are users claimed when a failed part answered again, settled
	// when the hold ends (their lease outlasts it).
	held []string

	mu        sync.Mutex // guards the counts below, kept from parallel settles
	unsettled int        // users not settled since the last warning
	lastErr   error
	lastUser  string
	warnedAt  time.Time
}

// partFailure is a ClaimDue error that says which parts of the store
// failed (redisstore: deadline shards, each in one slot of a cluster).
type partFailure interface{ FailedParts() uint64 }

// failedParts returns the parts of the store err says failed, as a bit
// mask: all of them when err does not say, none without an error.
func failedParts(err error) uint64 {
	if err == nil {
		return 0
	}
	var pf partFailure
	if errors.As(err, &pf) && pf.FailedParts() != 0 {
		return pf.FailedParts()
	}
	return ^uint64(0)
}

// reap settles every user whose stored deadline has come: sessions past
// their grace or stored TTL end, statuses expire, idle timers fire.
//
// While part of the store cannot be reached (a master of a cluster is
// down), the reaper settles the users the rest gives, but only those
// whose records lie on a part that answers: the records of the part that
// is down hold sessions whose stored expiries lapsed because their nodes
// could not refresh them. It tells them apart by order: a user's record is
// read once claimed, and the user is settled at the next tick only if that
// tick's claim, sent after the read, still finds no failed part answering
// again. A record on the missing part either fails to read (the user
// comes due again at its lease end) or was read after the part came back,
// which the next claim shows. When a failed part answers again, this node
// writes its sessions back and holds its reaper for reapHold, as every
// other node does on seeing the same return (a master holding a deadline
// shard, which docs/redis.md says for which clusters every master does,
// shows going and coming back in every node's claims).
func (h *Hub) reap(ctx context.Context, now time.Time) {
	rs := &h.reaping
	if now.Before(rs.holdUntil) {
		return
	}
	defer h.warnUnsettled(now)
	if rs.held != nil {
		h.settle(ctx, rs.held)
		rs.held = nil
	}
	if h.leased() {
		h.settle(ctx, h.timers.due(now))
		if now.Before(rs.nextPoll) {
			return
		}
		rs.nextPoll = now.Add(h.leaseEvery())
	}
	for range 10 {
		ids, err := h.cfg.Store.ClaimDue(ctx, now, reapBatch)
		failed := failedParts(err)
		if rs.failed&^failed != 0 {
			rs.failed = failed
			rs.holdUntil = now.Add(reapHold)
			rs.held = append(rs.readable, ids...)
			rs.readable = nil
			h.Reassert() // this node's sessions may have lapsed in the store meanwhile
			h.log.Info("a failed part of the store answers again; sessions written back, expiring resumes after a hold", "hold", reapHold)
			return
		}
		if failed != 0 {
			if rs.failed == 0 {
				h.log.Warn("claiming due deadlines failed; settling the users whose records can be read, retrying every tick", "claimed", len(ids), "err", err)
			}
			rs.failed = failed
			h.settle(ctx, rs.readable)
			rs.readable = h.readable(ctx, ids)
			return
		}
		h.settle(ctx, ids)
		if len(ids) < reapBatch {
			return
		}
	}
}

// readable returns the users among ids whose records can be read now; the
// others are counted as not settled, and come due again at their lease
// end.
func (h *Hub) readable(ctx context.Context, ids []string) []string {
	ok := make([]bool, len(ids))
	parallel(len(ids), func(i int) {
		_, err := h.cfg.Store.Load(ctx, ids[i:i+1])
		ok[i] = err == nil
		if err != nil {
			h.unsettled(ids[i], err)
		}
	})
	var out []string
	for i, id := range ids {
		if ok[i] {
			out = append(out, id)
		}
	}
	return out
}

// settle applies what is due to each of ids, counting the failures for
// warnUnsettled.
func (h *Hub) settle(ctx context.Context, ids []string) {
	parallel(len(ids), func(i int) {
		if _, err := h.update(ctx, ids[i], func(*presence.UserState) error { return nil }); err != nil {
			h.unsettled(ids[i], err)
		}
	})
}

// unsettled counts a user whose settle failed; safe from parallel calls.
func (h *Hub) unsettled(id string, err error) {
	rs := &h.reaping
	rs.mu.Lock()
	rs.unsettled++
	rs.lastErr, rs.lastUser = err, id
	rs.mu.Unlock()
}

// warnUnsettled logs the users not settled since the last warning, at
// most once per settleWarnEvery.
func (h *Hub) warnUnsettled(now time.Time) {
	rs := &h.reaping
	if rs.unsettled == 0 || (!rs.warnedAt.IsZero() && now.Sub(rs.warnedAt) < settleWarnEvery) {
		return
	}
	h.log.Warn("settling due users failed; each comes due again at its lease end",
		"users", rs.unsettled, "user", rs.lastUser, "err", rs.lastErr)
	rs.unsettled, rs.lastErr, rs.lastUser, rs.warnedAt = 0, nil, "", now
}
