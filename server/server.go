// Package server assembles a presenced node from its parts — store, bus,
// hub, WebSocket gateway and HTTP API — and runs its lifecycle. Both the
// binary and the integration tests start nodes through it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/gateway"
	"github.com/presenced/presenced/httpapi"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/localbus"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/metrics"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/redisstore"
	"github.com/presenced/presenced/webui"
)

// Config is a node's configuration; cmd/presenced fills it from flags.
// Zero values mean the documented defaults.
type Config struct {
	// Addr is the listen address. Zero means 127.0.0.1:7700; tests use
	// 127.0.0.1:0.
	Addr string
	// Dev accepts ?user_id= without a token and a default API key. Insecure.
	Dev          bool
	JWTSecret    string
	JWTPublicKey string // path to a PEM public key (RS256 or ES256)
	APIKey       string

	HeartbeatInterval time.Duration
	HeartbeatTTL      time.Duration
	OfflineGrace      time.Duration
	AwayAfter         time.Duration
	MaxMessageBytes   int
	MaxSubscriptions  int
	RatePerSecond     float64
	RateBurst         float64
	// Admission limits per node (gateway.Config, hub.Config): zero means
	// the documented default, a negative value no bound.
	MaxConnections        int
	MaxConnectionsPerUser int
	MaxWatchedPerUser     int
	// HandlerWorkers: see gateway.Config.
	HandlerWorkers int
	// Rooms: see hub.RoomConfig (its Rooms store is filled in here).
	Rooms hub.RoomConfig
	// ShutdownTimeout bounds a graceful shutdown. Zero means 10s.
	ShutdownTimeout time.Duration
	// HTTPReadTimeout bounds reading one whole HTTP request, body included,
	// so a client trickling a body cannot hold a request open. Zero means
	// 10s. A WebSocket is not bound by it once upgraded.
	HTTPReadTimeout time.Duration
	// HTTPIdleTimeout closes a keep-alive connection idle this long between
	// requests. Zero means 60s.
	HTTPIdleTimeout time.Duration
	// MaxHTTPRequests bounds the HTTP requests served at once; more are
	// answered 503 unavailable at once. Zero means 256.
	MaxHTTPRequests int

	// DataDir holds the database file. Zero means ./data.
	DataDir string
	// DefaultVisibility applies to users who set none: everyone, contacts
	// or nobody. Zero means contacts, or everyone with Dev.
	DefaultVisibility string
	// LastSeenReciprocity: a user who hides their last-seen sees no one's.
	LastSeenReciprocity bool
	// RedisURL, when set, keeps shared state in Redis or Redis Cluster (see
	// redisstore.ParseURL) so that several nodes serve one user base.
	// Empty means the embedded single-node store under DataDir.
	RedisURL string
	// Webhook configures webhook delivery; without a URL none is sent.
	Webhook WebhookConfig
	// Demo serves the demo page at / (Dev does too); /sdk/presenced.js is
	// always served.
	Demo bool

	// Auth for real deployments (see docs/security.md).
	//
	// JWTJWKSURL verifies RS256/ES256/EdDSA tokens with an identity
	// provider's key set, refreshed every JWTJWKSRefresh (zero: 5 minutes).
	// JWTIssuer and JWTAudience, when set, must match the token's iss and
	// one of its aud.
	JWTJWKSURL     string
	JWTJWKSRefresh time.Duration
	JWTIssuer      string
	JWTAudience    string
	// AllowedOrigins lists the browser origins allowed to upgrade (see
	// gateway.Config.AllowedOrigins). Empty means any, or loopback pages
	// only with Dev.
	AllowedOrigins []string
	// InternalAddr, when set, serves /metrics, /healthz, /readyz and the
	// pprof profiles on a second listener, and /metrics leaves the public
	// one.
	InternalAddr string

	// Clock drives every timed rule. Nil means the system clock.
	Clock presence.Clock
	// TickInterval is how often deadlines are processed. Zero means 50ms.
	TickInterval time.Duration
	Logger       *slog.Logger
}

// DevAPIKey is the API key of a --dev node started without --api-key.
const DevAPIKey = "dev-api-key"

// Server is a running node.
type Server struct {
	cfg  Config
	log  *slog.Logger
	hub  *hub.Hub
	gw   *gateway.Gateway
	be   *backend
	http *http.Server
	ln   net.Listener
	done chan error
	// wh delivers the webhooks.
	wh *webhooks

	verifier *auth.Verifier
	internal *internalListener
}

// New builds a node and starts listening. Serving starts with Start.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:7700"
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if err := httpDefaults(&cfg); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	log := cfg.Logger
	rules, err := rules(&cfg)
	if err != nil {
		return nil, err
	}
	verifier, err := auth.New(auth.Config{
		Secret: cfg.JWTSecret, PublicKeyFile: cfg.JWTPublicKey,
		JWKSURL: cfg.JWTJWKSURL, JWKSRefresh: cfg.JWTJWKSRefresh,
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		Now: clockFunc(cfg.Clock), Logger: log,
	})
	if errors.Is(err, auth.ErrNoKey) {
		if !cfg.Dev {
			return nil, errors.New("no way to authenticate clients: set --jwt-secret (HS256), --jwt-public-key FILE or --jwt-jwks-url URL (RS256/ES256/EdDSA), or --dev for local use only")
		}
		verifier, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	built := false
	defer func() {
		if !built {
			verifier.Close()
		}
	}()
	if cfg.Dev {
		log.Warn("DEV MODE: clients may connect with ?user_id= and no token. Never run this in production.")
		if cfg.APIKey == "" {
			cfg.APIKey = DevAPIKey
			log.Warn("DEV MODE: API key is " + DevAPIKey)
		}
	} else if cfg.APIKey == "" {
		log.Warn("no --api-key: the backend endpoints of the HTTP API refuse every request")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	if err := checkWebhooks(&cfg.Webhook, log); err != nil {
		return nil, err
	}

	be, err := openBackend(&cfg, log)
	if err != nil {
		return nil, err
	}
	// The embedded store keeps the outbox in its file: webhooks open on it.
	wh, err := openWebhooks(&cfg.Webhook, metrics.NewWebhooks(reg), log, be.store)
	if err != nil {
		_ = be.close()
		return nil, err
	}
	registerBoltStats(reg, be.store) // before the store is wrapped
	if wh.engine != nil {
		trans := newTransitions(wh.add, wh.types, clockNow(cfg.Clock))
		trans.durable = wh.durable
		be.store, be.rooms = trans.store(be.store), trans.roomStore(be.rooms)
	}
	policy, err := privacy.NewCache(privacy.CacheConfig{Store: be.settings, Rules: rules, Logger: log})
	if err != nil {
		_ = be.close()
		return nil, err
	}
	h, err := hub.New(hub.Config{
		Store:             be.store,
		Bus:               be.bus,
		Policy:            policy,
		Clock:             cfg.Clock,
		HeartbeatInterval: cfg.HeartbeatInterval,
		HeartbeatTTL:      cfg.HeartbeatTTL,
		OfflineGrace:      cfg.OfflineGrace,
		AwayAfter:         cfg.AwayAfter,
		MaxSubscriptions:  cfg.MaxSubscriptions,
		MaxWatchedPerUser: cfg.MaxWatchedPerUser,
		TickInterval:      cfg.TickInterval,
		Logger:            log,
		Metrics:           m,
		RoomConfig:        roomConfig(cfg.Rooms, be.rooms),
	})
	if err != nil {
		_ = be.close()
		return nil, err
	}
	if err := be.restore(context.Background(), h, log); err != nil {
		h.Close()
		_ = be.close()
		return nil, err
	}
	be.hub.Store(h)
	policy.SetInUse(h.InUse)
	sv := &privacy.Service{Store: be.settings, Rules: rules, OnChange: h.PrivacyChanged, Logger: log}
	gw, err := gateway.New(gateway.Config{
		Hub: h, Verifier: verifier, Dev: cfg.Dev, Privacy: sv, Ready: be.ready,
		MaxMessageBytes: cfg.MaxMessageBytes,
		RatePerSecond:   cfg.RatePerSecond, RateBurst: cfg.RateBurst,
		MaxConnections: cfg.MaxConnections, MaxConnectionsPerUser: cfg.MaxConnectionsPerUser, HandlerWorkers: cfg.HandlerWorkers,
		Logger: log, Metrics: m,
		AllowedOrigins: cfg.AllowedOrigins,
	})
	if err != nil {
		h.Close()
		_ = be.close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", gw)
	s := &Server{cfg: cfg, log: log, hub: h, gw: gw, be: be, done: make(chan error, 1), wh: wh, verifier: verifier}
	publicMetrics := prometheus.Gatherer(reg)
	if cfg.InternalAddr != "" {
		publicMetrics = nil
	}
	httpapi.New(httpapi.Config{Hub: h, Privacy: sv, APIKey: cfg.APIKey, Verifier: verifier, Ready: be.ready, Gatherer: publicMetrics, Logger: log,
		Stats: s.stats}).Register(mux)
	webui.Register(mux, cfg.Dev || cfg.Demo)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = gw.Shutdown(context.Background())
		h.Close()
		_ = be.close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	s.http = &http.Server{
		Handler:           httpapi.Canonical(httpapi.LimitConcurrent(mux, cfg.MaxHTTPRequests, log), log),
		ReadHeaderTimeout: min(10*time.Second, cfg.HTTPReadTimeout),
		ReadTimeout:       cfg.HTTPReadTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if err := s.listenInternal(mux, reg); err != nil {
		_ = ln.Close()
		_ = gw.Shutdown(context.Background())
		h.Close()
		_ = be.close()
		return nil, err
	}
	built = true
	return s, nil
}

// httpDefaults fills in and checks the HTTP server's limits. The read
// deadline net/http sets on a connection does not follow it into the
// WebSocket engine: wsconn hands the engine a duplicate of the socket,
// which Go's deadlines do not reach.
func httpDefaults(cfg *Config) error {
	if cfg.HTTPReadTimeout == 0 {
		cfg.HTTPReadTimeout = 10 * time.Second
	}
	if cfg.HTTPIdleTimeout == 0 {
		cfg.HTTPIdleTimeout = 60 * time.Second
	}
	if cfg.MaxHTTPRequests == 0 {
		cfg.MaxHTTPRequests = 256
	}
	switch {
	case cfg.HTTPReadTimeout < 0:
		return fmt.Errorf("--http-read-timeout must be positive, not %s", cfg.HTTPReadTimeout)
	case cfg.HTTPIdleTimeout < 0:
		return fmt.Errorf("--http-idle-timeout must be positive, not %s", cfg.HTTPIdleTimeout)
	case cfg.MaxHTTPRequests < 0:
		return fmt.Errorf("--max-http-requests must be positive, not %d", cfg.MaxHTTPRequests)
	}
	return nil
}

// Start serves in the background.
func (s *Server) Start() {
	s.hub.Start()
	if s.wh.engine != nil {
		s.wh.engine.Start()
		s.log.Info("webhooks on", "urls", len(s.cfg.Webhook.URLs), "events", s.wh.types)
	}
	go func() { s.done <- s.http.Serve(s.ln) }()
	s.internal.start(s.log)
	s.log.Info("presenced listening", "addr", s.Addr(),
		"heartbeat_interval", s.hub.Config().HeartbeatInterval, "heartbeat_ttl", s.hub.Config().HeartbeatTTL,
		"offline_grace", s.hub.Config().OfflineGrace, "away_after", s.hub.Config().AwayAfter,
		"data_file", filepath.Join(s.cfg.DataDir, DataFile))
}

// Addr returns the address the node listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Hub returns the node's hub.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Shutdown stops accepting connections and closes every client with 1012
// (service restart) so it reconnects. Sessions are not ended: a client that
// reconnects within the grace is never seen going offline.
func (s *Server) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(ctx)
	s.internal.shutdown(ctx)
	s.hub.Shutdown(protocol.CloseServiceRestart, "server restarting; reconnect")
	if gerr := s.gw.Shutdown(ctx); err == nil {
		err = gerr
	}
	s.hub.Close()
	if s.wh.engine != nil {
		if derr := s.wh.engine.Drain(ctx); derr != nil && s.wh.durable != nil {
			s.log.Info("webhook events not delivered yet stay in the durable outbox for the next start or another node", "err", derr)
		} else if derr != nil {
			s.log.Warn("webhook events left undelivered at shutdown", "err", derr)
		}
		s.wh.engine.Close()
	}
	s.verifier.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if cerr := s.be.close(); err == nil {
		err = cerr
	}
	return err
}

// clockNow is clockFunc with the system clock for nil.
func clockNow(c presence.Clock) func() time.Time {
	if c == nil {
		return time.Now
	}
	return c.Now
}

func clockFunc(c presence.Clock) func() time.Time {
	if c == nil {
		return nil
	}
	return c.Now
}

// roomConfig fills in the room store: the backend's.
func roomConfig(c hub.RoomConfig, backend hub.RoomStore) hub.RoomConfig {
	c.Rooms = backend
	return c
}

var (
	_ hub.Store       = (*memstore.Store)(nil)
	_ hub.StateReader = (*memstore.Store)(nil)
	_ hub.StateReader = (*boltstore.Store)(nil)
	_ hub.RoomStore   = (*memstore.Rooms)(nil)
	_ hub.RoomLister  = (*memstore.Rooms)(nil)
	_ hub.Bus         = (*localbus.Bus)(nil)
	_ hub.Store       = (*redisstore.Store)(nil)
	_ hub.Bus         = (*redisstore.Bus)(nil)
	_ hub.Blocker     = (*privacy.Cache)(nil)
)
