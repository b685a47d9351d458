package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/localbus"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/redisstore"
)

// backend is where a node keeps its state: the embedded database and the
// in-process bus of a single node, or Redis shared by several nodes.
type backend struct {
	store    hub.Store
	bus      hub.Bus
	settings privacy.Store
	// rooms keeps room membership: Redis's, shared by every node, or this
	// process's memory beside the embedded store.
	rooms hub.RoomStore
	// counts counts the deployment's users with a live session and their
	// sessions, for GET /v1/stats; each store keeps them with its writes.
	counts interface {
		Counts(ctx context.Context) (users, sessions int64, err error)
	}
	// shared, on Redis, also counts every node's connections; nil on the
	// embedded store, whose node has them all.
	shared *redisstore.Store
	// restoreRooms, on the embedded store, writes back the room
	// memberships of the sessions the previous run left (see restore).
	restoreRooms func(ctx context.Context, maxMembers int, now time.Time) (hub.RoomsRestored, error)
	// ready reports whether the backend can serve; nil means always.
	ready func() error
	close func() error
	// hub is set once the hub exists, for the Redis readiness callbacks.
	hub atomic.Pointer[hub.Hub]
}

func openBackend(cfg *Config, log *slog.Logger) (*backend, error) {
	b := &backend{}
	if cfg.RedisURL == "" {
		db, err := openEmbedded(cfg)
		if err != nil {
			return nil, err
		}
		rooms := memstore.NewRooms()
		rooms.StartAbove(uint64(time.Now().UnixMilli()))
		b.store, b.settings, b.bus, b.rooms, b.counts, b.close = db, db, localbus.New(), rooms, db, db.Close
		b.restoreRooms = func(ctx context.Context, maxMembers int, now time.Time) (hub.RoomsRestored, error) {
			return hub.RestoreRooms(ctx, rooms, db.ResumedRooms(), maxMembers, now)
		}
		return b, nil
	}
	rb, err := redisstore.Open(redisstore.Config{URL: cfg.RedisURL, Logger: log, OnReady: b.onReady, Connections: b.connections})
	if err != nil {
		return nil, err
	}
	log.Info("state in redis", "url", redisstore.Redacted(cfg.RedisURL))
	b.store, b.bus, b.settings, b.rooms, b.ready = rb.Store, rb.Bus, rb.Settings, rb.Rooms, rb.Ready
	b.counts, b.shared = rb.Store, rb.Store
	b.close = func() error { rb.Close(); return nil }
	return b, nil
}

// restore gives the in-memory rooms back the memberships of the sessions
// the embedded store resumed in their grace, so that their ends still
// leave their rooms (hub.RestoreRooms). It writes under the webhook
// wrapper, so the restore itself sends no event and reaches no one: a
// receiver and the viewers never saw those members leave. Call it before
// the node serves.
func (b *backend) restore(ctx context.Context, h *hub.Hub, log *slog.Logger) error {
	if b.restoreRooms == nil {
		return nil
	}
	r, err := b.restoreRooms(ctx, h.Config().MaxRoomMembers, h.Now())
	if err != nil {
		return fmt.Errorf("restoring the rooms of the previous run's sessions: %w", err)
	}
	if r.Members > 0 {
		log.Info("the room memberships of the previous run's sessions are restored for their grace", "members", r.Members)
	}
	if r.Refused > 0 {
		log.Warn("room memberships of the previous run not restored: their rooms are full (--max-room-members was lowered?)", "refused", r.Refused, "room", r.Room)
	}
	return nil
}

// unavailableFrame tells every client that updates are paused; requests
// meanwhile get the same code. Nothing needs to be done when service
// resumes: watched users are re-read and newer states pushed.
var unavailableFrame, _ = json.Marshal(protocol.Error{
	Type: protocol.TypeError, Code: string(presence.CodeUnavailable),
	Message: "presence store unavailable: updates are paused and resume by themselves",
})

// onReady follows Redis's availability: when it returns, this node's live
// sessions are written back (the store may have lost or expired them).
func (b *backend) onReady(ready bool) {
	h := b.hub.Load()
	if h == nil {
		return
	}
	if ready {
		h.Reassert()
	} else {
		h.Broadcast(unavailableFrame)
	}
}

// connections is this node's open connections, which its lease renewals
// publish on Redis: none before the hub exists.
func (b *backend) connections() int {
	if h := b.hub.Load(); h != nil {
		return h.ClientCount()
	}
	return 0
}

var (
	_ privacy.Store       = (*redisstore.Settings)(nil)
	_ hub.PolicyForgetter = (*privacy.Cache)(nil)
	_ hub.PolicyRefresher = (*privacy.Cache)(nil)
)
