// Command presenced runs a presence server node.
//
// Every flag has an environment equivalent: --heartbeat-ttl is
// PRESENCED_HEARTBEAT_TTL. A flag given on the command line wins.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/presenced/presenced/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "presenced:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "gen-webhook-secret" {
		return genWebhookSecret(os.Stdout)
	}
	fs := flag.NewFlagSet("presenced", flag.ContinueOnError)
	var cfg server.Config
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:7700", "listen address")
	fs.BoolVar(&cfg.Dev, "dev", false, "development mode: accept ?user_id= without a token (insecure)")
	fs.BoolVar(&cfg.Demo, "demo", false, "serve the demo page at / (always on with --dev)")
	fs.StringVar(&cfg.JWTSecret, "jwt-secret", "", "HS256 secret for client tokens")
	fs.StringVar(&cfg.JWTPublicKey, "jwt-public-key", "", "PEM public key file for RS256/ES256 client tokens")
	fs.StringVar(&cfg.APIKey, "api-key", "", "bearer key for the backend HTTP API")
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", 15e9, "ping a quiet connection this often")
	fs.DurationVar(&cfg.HeartbeatTTL, "heartbeat-ttl", 30e9, "end a session silent for this long")
	fs.DurationVar(&cfg.OfflineGrace, "offline-grace", 5e9, "keep a closed session live this long so a reconnect is unseen")
	fs.DurationVar(&cfg.AwayAfter, "away-after", 300e9, "turn a session idle when it reports no activity for this long")
	fs.IntVar(&cfg.MaxMessageBytes, "max-message-bytes", 64<<10, "largest client frame; larger ones close the connection with 1009")
	fs.IntVar(&cfg.MaxSubscriptions, "max-subscriptions", 10000, "most users one connection may watch")
	fs.IntVar(&cfg.MaxConnections, "max-connections", 0, "most WebSocket connections on this node, refused with HTTP 429 past it; 0: nine tenths of the open-file limit; -1: no limit")
	fs.IntVar(&cfg.MaxConnectionsPerUser, "max-connections-per-user", 100, "most WebSocket connections of one user on this node; -1: no limit")
	fs.IntVar(&cfg.MaxWatchedPerUser, "max-watched-per-user", 50000, "most users watched by all of one user's connections on this node together; -1: no limit")
	fs.IntVar(&cfg.HandlerWorkers, "handler-workers", 0, "most client messages handled at once (each may wait on the store); 0: 64 × GOMAXPROCS")
	fs.Float64Var(&cfg.RatePerSecond, "rate-limit", 20, "sustained client messages per second per connection")
	fs.Float64Var(&cfg.RateBurst, "rate-burst", 50, "burst of client messages per connection")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10e9, "bound on a graceful shutdown")
	fs.DurationVar(&cfg.HTTPReadTimeout, "http-read-timeout", 10e9, "bound on reading one whole HTTP request, body included")
	fs.DurationVar(&cfg.HTTPIdleTimeout, "http-idle-timeout", 60e9, "close a keep-alive HTTP connection idle this long")
	fs.IntVar(&cfg.MaxHTTPRequests, "max-http-requests", 256, "most HTTP requests served at once; more are answered 503 (WebSocket upgrades and /healthz are not counted)")
	fs.StringVar(&cfg.DataDir, "data-dir", "./data", "directory of the database file (presenced.db)")
	fs.StringVar(&cfg.DefaultVisibility, "default-visibility", "", "who sees users who set no visibility: everyone, contacts or nobody (default contacts; everyone with --dev)")
	fs.BoolVar(&cfg.LastSeenReciprocity, "last-seen-reciprocity", false, "a user who hides their last-seen from everyone sees no one's")
	fs.IntVar(&cfg.Rooms.RoomAnnounceMax, "room-announce-max", 100, "largest room whose joins and leaves are sent one by one; larger rooms send summaries")
	fs.DurationVar(&cfg.Rooms.RoomSummaryInterval, "room-summary-interval", 2e9, "how often a large room's changes are summarised")
	fs.IntVar(&cfg.Rooms.MaxRoomsPerConnection, "max-rooms-per-connection", 100, "most rooms one connection may be in")
	fs.IntVar(&cfg.Rooms.MaxRoomMembers, "max-room-members", 100000, "most members one room may have")
	fs.StringVar(&cfg.RedisURL, "redis-url", "", "keep state in Redis shared by several nodes: redis://[user:pass@]host:port[/db], redis+cluster://h1:p1,h2:p2,... (rediss for TLS)")
	webhookFlags(fs, &cfg.Webhook)
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060); off when empty")
	secretFiles := authFlags(fs, &cfg)
	gcPercent := fs.Int("gc-percent", defaultGCPercent, "Go's GOGC for this process: the heap grows this many percent past live data before a collection (lower: less memory, more CPU)")
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := secretFiles.apply(fs, &cfg); err != nil {
		return err
	}
	explicitGC := os.Getenv("PRESENCED_GC_PERCENT") != ""
	fs.Visit(func(f *flag.Flag) { explicitGC = explicitGC || f.Name == "gc-percent" })
	if err := setGCPercent(*gcPercent, explicitGC); err != nil {
		return err
	}
	logger, err := newLogger(*logLevel, *logFormat)
	if err != nil {
		return err
	}
	cfg.Logger = logger
	slog.SetDefault(logger)
	for _, w := range secretFiles.warnings {
		logger.Warn(w)
	}

	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	if *pprofAddr != "" && *pprofAddr != cfg.InternalAddr {
		if err := servePprof(*pprofAddr, logger); err != nil {
			return err
		}
	}
	srv.Start()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	logger.Info("shutting down: clients are told to reconnect")
	return srv.Shutdown(context.Background())
}

// applyEnv sets each flag from its PRESENCED_* variable, before the command
// line is parsed so that flags win.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "PRESENCED_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && err == nil {
			set := f.Value.Set
			if es, ok := f.Value.(envSetter); ok {
				set = es.SetEnv
			}
			if e := set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}
