// Package gateway speaks presenced's WebSocket protocol: it authenticates the
// upgrade request, decodes client messages, enforces the per-connection
// limits, and turns each message into a hub call and its reply.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/metrics"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/wsconn"
)

// Config configures a Gateway. Zero values mean the documented defaults.
type Config struct {
	Hub *hub.Hub
	// Verifier checks ?token=. Nil means tokens are refused.
	Verifier *auth.Verifier
	// Dev accepts ?user_id= without a token. Never in production.
	Dev bool
	// Privacy serves set_privacy, get_privacy, block and unblock. Nil
	// answers them with unavailable.
	Privacy *privacy.Service
	// MaxMessageBytes bounds one client frame; larger ones close the
	// connection with 1009. Zero means 64 KiB.
	MaxMessageBytes int
	// MaxPendingBytes bounds unsent output per connection in the transport.
	// It must hold the largest reply, a snapshot of 1,000 users. Zero means
	// 1 MiB.
	MaxPendingBytes int
	// RatePerSecond and RateBurst bound the messages one connection may
	// send: a token bucket refilled at RatePerSecond holding RateBurst.
	// Zero means 20 per second, burst 50.
	RatePerSecond float64
	RateBurst     float64
	// MaxConnections bounds the WebSocket connections of this node; one
	// more is refused before the upgrade with HTTP 429. Zero means nine
	// tenths of the process's open-file limit (no bound if that is
	// unknown); a negative value means no bound.
	MaxConnections int
	// MaxConnectionsPerUser bounds the connections of one user on this
	// node, refused the same way. Zero means
	// DefaultMaxConnectionsPerUser (100); a negative value means no bound.
	MaxConnectionsPerUser int
	// HandlerWorkers bounds the messages handled at once, each of which
	// may wait on the store (see wsconn.Config.HandlerWorkers). Zero means
	// 64 × GOMAXPROCS.
	HandlerWorkers int
	// CheckOrigin decides whether to accept a browser's Origin; a refused
	// upgrade gets 403 before any credential is looked at. Nil means
	// AllowedOrigins decides.
	CheckOrigin func(r *http.Request) bool
	// AllowedOrigins lists the origins browsers may connect from
	// (scheme://host[:port], "*" for any, "https://*.example.com" for
	// subdomains). Empty means any origin, or with Dev only http(s) pages
	// on localhost, 127.0.0.1 or [::1]: a dev node trusts ?user_id=, so any
	// other page could otherwise act as any user on a developer's machine.
	// Requests without Origin (non-browser clients) are always allowed.
	AllowedOrigins []string
	// Ready reports whether the node can serve. While it returns an error,
	// new connections are closed with 4004 (unavailable, reconnect later)
	// right after the upgrade. Nil means always ready.
	Ready   func() error
	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// Gateway serves GET /v1/ws.
type Gateway struct {
	cfg Config
	hub *hub.Hub
	ws  *wsconn.Server
	log *slog.Logger
	m   *metrics.Metrics
	adm *admission
}

// Config returns the gateway's configuration with defaults applied.
func (g *Gateway) Config() Config { return g.cfg }

// New starts the WebSocket engine and returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.Hub == nil {
		return nil, errors.New("gateway: Hub is required")
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 64 << 10
	}
	if cfg.MaxPendingBytes == 0 {
		cfg.MaxPendingBytes = 1 << 20
	}
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond = 20
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = 50
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = autoMaxConnections()
	}
	if cfg.MaxConnectionsPerUser == 0 {
		cfg.MaxConnectionsPerUser = DefaultMaxConnectionsPerUser
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(nil)
	}
	if cfg.CheckOrigin == nil {
		check, err := originChecker(cfg.AllowedOrigins, cfg.Dev)
		if err != nil {
			return nil, err
		}
		cfg.CheckOrigin = check
	}
	ws, err := wsconn.NewServer(wsconn.Config{
		MaxMessageBytes: cfg.MaxMessageBytes,
		MaxPendingBytes: cfg.MaxPendingBytes,
		// ServeHTTP has judged the origin already.
		CheckOrigin:    func(*http.Request) bool { return true },
		HandlerWorkers: cfg.HandlerWorkers,
		Logger:         cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	cfg.Metrics.SetHandlerQueue(ws.QueuedHandlers)
	return &Gateway{cfg: cfg, hub: cfg.Hub, ws: ws, log: cfg.Logger, m: cfg.Metrics,
		adm: newAdmission(cfg.MaxConnections, cfg.MaxConnectionsPerUser, cfg.Metrics)}, nil
}

// Shutdown stops the WebSocket engine. Close the hub's clients first (see
// hub.Shutdown) so they get a close code telling them to reconnect.
func (g *Gateway) Shutdown(ctx context.Context) error {
	return g.ws.Shutdown(ctx)
}

// ServeHTTP authenticates and upgrades a connection. A browser page from an
// origin not allowed is refused with 403, a bad or missing credential with
// 401 (503 while the signing keys cannot be fetched), a connection past
// MaxConnections or MaxConnectionsPerUser with 429, all before the upgrade.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" && !g.cfg.CheckOrigin(r) {
		writeHTTPError(w, http.StatusForbidden, presence.Errorf(presence.CodeForbidden, "origin not allowed"))
		return
	}
	id, err := g.identify(r)
	if err != nil {
		writeHTTPError(w, identifyStatus(err), err)
		return
	}
	device := r.URL.Query().Get("device")
	if len(device) > presence.MaxDeviceBytes {
		writeHTTPError(w, http.StatusBadRequest, presence.Errorf(presence.CodeInvalidArgument, "device is longer than %d bytes", presence.MaxDeviceBytes))
		return
	}
	if err := g.adm.admit(id.UserID); err != nil {
		writeHTTPError(w, http.StatusTooManyRequests, err)
		return
	}
	cs := &conn{g: g}
	cs.client = g.hub.Open(id.UserID, device, id.Expires, cs)
	cs.client.AllowRooms(roomPatterns(id, g.cfg.Dev))
	c, err := g.ws.Upgrade(w, r, cs, nil)
	if err != nil {
		g.hub.Disconnect(cs.client)
		g.adm.release(id.UserID)
		return
	}
	if g.cfg.Ready != nil && g.cfg.Ready() != nil {
		g.m.Inc(g.m.Closes, "unavailable")
		c.Close(protocol.CloseUnavailable, "presence store unavailable; reconnect later")
		return
	}
	cs.ready(c)
}

func writeHTTPError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": string(presence.ErrorCode(err)), "message": presence.ErrorMessage(err)})
}
