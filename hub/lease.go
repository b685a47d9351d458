package hub

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/deadline"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// Leases is an optional ability of a Store: node leases. With it, a
// node renews one lease about once a second and its sessions' records are
// written only when something a viewer could see changes; when a node's
// lease lapses, another node ends its sessions. Without it, each node
// refreshes each of its sessions' records once per heartbeat interval,
// and the records' expiries end a dead node's sessions.
type Leases interface {
	// RenewLease extends node's lease to until; now, the renewal, is the
	// node's last proof of life if it dies. It reports whether the lease
	// was held, new (first renewal, or the store lost it) or lapsed and
	// claimed since (then it is not renewed).
	RenewLease(ctx context.Context, node string, now, until time.Time) (presence.LeaseState, error)
	// ClaimLapsed returns up to max nodes whose lease lapsed by now, each
	// handed to one caller across every node for claimFor; a node not
	// ended by then (EndLease) is handed out again.
	ClaimLapsed(ctx context.Context, now time.Time, claimFor time.Duration, max int) ([]presence.Lapsed, error)
	// NodeUsers returns the users whose records hold a session of node,
	// which the store indexes on Update from Session.Node; it may return
	// more. With an error it may still return users it could read.
	NodeUsers(ctx context.Context, node string) ([]string, error)
	// EndLease forgets a claimed node's lease and index once its sessions
	// were ended. Its later renewals report it lapsed.
	EndLease(ctx context.Context, node string) error
}

// claimFor is how long a lapsed node is handed to its claimer: ending a
// node's sessions is one write per user, parallel (tickParallelism).
const claimFor = 30 * time.Second

// claimBatch bounds the lapsed nodes taken over per claim.
const claimBatch = 16

// leaseState is the node's lease. Renewals run on their own loop (see
// Start) as well as in Tick, so that a tick held up by a slow store (a
// frozen master makes every call to it wait the operation timeout) never
// delays them; mu guards the fields below it and is never held across a
// store call. Lock order: mu, then clientMu.
type leaseState struct {
	store Leases // nil: per-session refreshes
	// name is the node's name in the lease and in its session records:
	// Config.Node and a suffix for this run, replaced when the lease
	// lapsed, so that sessions opened later are not taken for those the
	// lapse ended.
	name atomic.Pointer[string]
	// held is whether the last renewal succeeded and found the lease
	// this node's: sessions are written back, and lapsed nodes taken over,
	// only then.
	held atomic.Bool

	mu        sync.Mutex
	next      time.Time // next renewal
	renewing  bool      // a renewal is in flight
	renewed   bool      // renewed once at least under the current name
	failing   bool      // the last renewal failed
	holdUntil time.Time // no takeover before (the store just came back)
	nextClaim time.Time // next look for lapsed leases (Tick only)
}

func (h *Hub) initLease() {
	h.lease.store, _ = h.cfg.Store.(Leases)
	h.newLeaseName()
}

func (h *Hub) newLeaseName() {
	name := h.cfg.Node
	if h.lease.store != nil {
		name += "." + randomID(3)
	}
	h.lease.name.Store(&name)
}

// node returns the node's name as its session records carry it.
func (h *Hub) node() string { return *h.lease.name.Load() }

// leased reports whether the store keeps node leases.
func (h *Hub) leased() bool { return h.lease.store != nil }

// leaseEvery is how often the lease is renewed and lapsed leases are
// looked for: every second, or a quarter of the TTL if that is shorter.
func (h *Hub) leaseEvery() time.Duration { return min(time.Second, h.cfg.HeartbeatTTL/4) }

// leaseFor is how long a renewal holds: the TTL less one renewal period,
// so that with a claim poll every period, a dead node's sessions end
// within its last renewal plus the TTL, as a silent client's do.
func (h *Hub) leaseFor() time.Duration { return h.cfg.HeartbeatTTL - h.leaseEvery() }

// leaseTick renews the lease when due, then, once per leaseEvery, ends
// the sessions of nodes whose lease lapsed. Tick calls it.
func (h *Hub) leaseTick(ctx context.Context, now time.Time) {
	ls := &h.lease
	if ls.store == nil {
		return
	}
	h.renewLease(ctx, now)
	ls.mu.Lock()
	due := ls.held.Load() && !now.Before(ls.holdUntil) && !now.Before(ls.nextClaim)
	if due {
		ls.nextClaim = now.Add(h.leaseEvery())
	}
	ls.mu.Unlock()
	if due {
		h.takeOver(ctx, now)
	}
}

// renewLease renews the lease if a renewal is due and none is in flight.
func (h *Hub) renewLease(ctx context.Context, now time.Time) {
	ls := &h.lease
	ls.mu.Lock()
	if ls.store == nil || ls.renewing || now.Before(ls.next) {
		ls.mu.Unlock()
		return
	}
	ls.next, ls.renewing = now.Add(h.leaseEvery()), true
	node := h.node()
	ls.mu.Unlock()
	state, err := ls.store.RenewLease(ctx, node, now, now.Add(h.leaseFor()))
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.renewing = false
	ls.held.Store(err == nil && state != presence.LeaseLapsed)
	if err != nil {
		if !ls.failing {
			h.log.Warn("renewing the node lease failed; retrying", "err", err)
		}
		ls.failing = true
		return
	}
	if ls.failing {
		// Every node's renewals failed as long as this one's: hold the
		// takeover until they renewed too, and write back what the store
		// may have lost meanwhile.
		ls.failing = false
		ls.holdUntil = now.Add(reapHold)
		h.Reassert()
		h.log.Info("the node lease is renewed again; taking over lapsed nodes resumes after a hold", "hold", reapHold)
	}
	switch state {
	case presence.LeaseNew:
		if ls.renewed {
			h.log.Info("the store had lost the node lease; sessions written back", "node", node)
			h.Reassert()
		}
	case presence.LeaseLapsed:
		h.lapsed()
		return
	}
	ls.renewed = true
}

// lapsed handles this node's own lease found lapsed and claimed: another
// node ends (or ended) its sessions. The node takes a new name and
// closes its clients' connections with 1012: each session enters its
// grace as on a restart, unless it was ended already (then nothing brings
// it back), and the clients reconnect and open sessions under the new
// name.
// The caller holds the lease's mu.
func (h *Hub) lapsed() {
	old := h.node()
	h.newLeaseName()
	h.lease.renewed = false
	h.lease.next = time.Time{}
	var closed int
	for _, c := range h.allClients() {
		if c.IsSession() {
			c.sink.Close(protocol.CloseServiceRestart, "server restarting; reconnect")
			closed++
		}
	}
	h.log.Warn("the node lease lapsed and another node ended its sessions; connections closed to reconnect",
		"node", old, "new_name", h.node(), "closed", closed)
}

// takeOver ends the sessions of the nodes whose lease lapsed.
func (h *Hub) takeOver(ctx context.Context, now time.Time) {
	nodes, err := h.lease.store.ClaimLapsed(ctx, now, claimFor, claimBatch)
	if err != nil {
		h.log.Warn("claiming lapsed node leases failed", "err", err)
	}
	for _, n := range nodes {
		users, err := h.lease.store.NodeUsers(ctx, n.Node)
		var failed atomic.Int32
		if err != nil {
			// Part of the store did not answer: end what can be read now;
			// the rest when the claim is handed out again.
			h.log.Warn("reading a lapsed node's users failed in part; the rest is retried when its claim ends", "node", n.Node, "err", err)
			failed.Add(1)
		}
		parallel(len(users), func(i int) {
			if _, err := h.update(ctx, users[i], func(st *presence.UserState) error {
				endNode(st, n)
				return nil
			}); err != nil {
				failed.Add(1)
				h.unsettled(users[i], err)
			}
		})
		if failed.Load() > 0 {
			continue // handed out again at the claim's end
		}
		if err := h.lease.store.EndLease(ctx, n.Node); err != nil {
			h.log.Warn("ending a lapsed node's lease failed; its users are settled again", "node", n.Node, "err", err)
			continue
		}
		h.log.Info("ended the sessions of a node whose lease lapsed", "node", n.Node, "users", len(users), "renewed", n.Renewed)
	}
}

// endNode ends the open sessions of lapsed node n in st, last seen at its
// last renewal; sessions already in their grace end with it.
func endNode(st *presence.UserState, n presence.Lapsed) {
	for _, ss := range slices.Clone(st.Sessions) {
		if ss.Node == n.Node && ss.GraceUntil.IsZero() {
			st.Remove(ss.ID, n.Renewed)
		}
	}
}

// timerQueue times, in memory, the deadlines of the records this node
// wrote, so that with node leases the store-wide poll for due deadlines
// (ClaimDue) runs once per leaseEvery instead of every tick: it only
// finds deadlines whose writer died or was replaced by a later write
// elsewhere (whose writer times it in turn).
type timerQueue struct {
	mu sync.Mutex
	q  *deadline.Queue[string]
}

func (q *timerQueue) init() { q.q = deadline.New[string]() }

// schedule times userID's deadline as last written by this node; zero
// removes it.
func (q *timerQueue) schedule(userID string, at time.Time) {
	q.mu.Lock()
	if at.IsZero() {
		q.q.Remove(userID)
	} else {
		q.q.Set(userID, at)
	}
	q.mu.Unlock()
}

// due pops the users whose deadline came by now.
func (q *timerQueue) due(now time.Time) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.q.PopDue(now, 0, nil)
}

// releaseLease makes the node's lease lapse now, when the hub closes: its
// sessions were put in their grace by the shutdown (Disconnect), and
// another node takes over at once whatever was left open, instead of a
// TTL later; the nodes also stop counting it among the live ones that
// share the store's polling.
func (h *Hub) releaseLease() {
	if h.lease.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := h.Now()
	if _, err := h.lease.store.RenewLease(ctx, h.node(), now, now); err != nil {
		h.log.Warn("releasing the node lease failed; it lapses by itself", "err", err)
	}
}
