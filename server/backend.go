package server

import (
	"encoding/json"
	"log/slog"
	"sync/atomic"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/localbus"
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
	// rooms is the shared room store; nil keeps room membership in memory.
	rooms hub.RoomStore
	// shared, on Redis, counts the deployment's users, sessions and
	// connections; nil on the embedded store.
	shared *redisstore.Store
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
		b.store, b.settings, b.bus, b.close = db, db, localbus.New(), db.Close
		return b, nil
	}
	rb, err := redisstore.Open(redisstore.Config{URL: cfg.RedisURL, Logger: log, OnReady: b.onReady, Connections: b.connections})
	if err != nil {
		return nil, err
	}
	log.Info("state in redis", "url", redisstore.Redacted(cfg.RedisURL))
	b.store, b.bus, b.settings, b.rooms, b.ready = rb.Store, rb.Bus, rb.Settings, rb.Rooms, rb.Ready
	b.shared = rb.Store
	b.close = func() error { rb.Close(); return nil }
	return b, nil
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
