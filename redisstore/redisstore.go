// Package redisstore keeps presenced's shared state in Redis or Redis
// Cluster so that several nodes serve one user base: a hub.Store (one
// record per user, updated by compare-and-set in Lua, deadlines in sharded
// sorted sets claimed with leases) and a hub.Bus (sharded pub/sub, one
// channel per watched user). docs/redis.md describes the key layout and
// what happens when Redis is unavailable.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// Config configures a Backend. Zero values mean the documented defaults.
type Config struct {
	// URL is the --redis-url; see ParseURL.
	URL string
	// Prefix starts every key and channel name, so that deployments can
	// share a Redis. Empty means "pd:". It must not contain braces.
	Prefix string
	// OpTimeout bounds one store operation when the caller's context has no
	// deadline. Zero means 2s.
	OpTimeout time.Duration
	// Lease is how long a claimed deadline belongs to the node that claimed
	// it; if that node dies before settling, another claims it after the
	// lease. Zero means 3s.
	Lease time.Duration
	// ProbeInterval is how often every Redis server is pinged for
	// readiness. Zero means 1s.
	ProbeInterval time.Duration
	// OnReady, if set, is called from the probe goroutine each time the
	// backend turns ready (true) or unavailable (false), never twice in a
	// row with the same value. The first call is false only if Redis fails
	// after Open.
	OnReady func(ready bool)
	// Connections, if set, returns this node's open connections: each
	// lease renewal publishes the figure for the deployment's count
	// (Store.Connections). Nil publishes nothing.
	Connections func() int
	Logger      *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Prefix == "" {
		c.Prefix = "pd:"
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		return fmt.Errorf("redisstore: Prefix %q must not contain braces", c.Prefix)
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 2 * time.Second
	}
	if c.Lease == 0 {
		c.Lease = 3 * time.Second
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Backend is one node's connection to Redis, shared by its Store and Bus.
type Backend struct {
	cfg    Config
	client rueidis.Client
	l      *layout
	log    *slog.Logger

	Store    *Store
	Bus      *Bus
	Settings *Settings
	Rooms    *Rooms

	health health
	stop   chan struct{}
	done   sync.WaitGroup
}

// Open connects to Redis and checks that it can serve presenced: Redis 7
// or later (sharded pub/sub), and a cluster if and only if the URL says
// so. It fails when Redis cannot be reached; after Open, outages are
// survived and reported through Ready.
func Open(cfg Config) (*Backend, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	opt, cluster, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	opt.DisableCache = true
	// Fail fast: a command that cannot reach Redis returns at once and the
	// caller reports "unavailable", instead of retrying until its timeout
	// and holding up the hub's tick. Cluster redirections still follow.
	opt.DisableRetry = true
	opt.ForceSingleClient = !cluster
	opt.ShuffleInit = cluster
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = 2 * time.Second
	}
	// How long a keepalive PING may wait: with the PINGs' spacing below,
	// a connection to a frozen server is given up within 13 s. The
	// readiness probe pings every server every second over the shared
	// connections, so only the idle pub/sub connections wait that long.
	opt.ConnWriteTimeout = 3 * time.Second
	// The spacing of the keepalive PINGs on an idle connection (rueidis
	// sends one per Dialer.KeepAlive, 1s by default): at 1s, a node's 16
	// idle pub/sub connections alone cost Redis 16 commands a second.
	if opt.Dialer.KeepAlive == 0 {
		opt.Dialer.KeepAlive = 10 * time.Second
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("redis at %s unavailable: %w", Redacted(cfg.URL), err)
	}
	b := &Backend{cfg: cfg, client: client, l: newLayout(cfg.Prefix), log: cfg.Logger, stop: make(chan struct{})}
	if err := b.check(cluster); err != nil {
		client.Close()
		return nil, err
	}
	b.Store = newStore(b)
	b.Bus = newBus(b)
	b.Settings = newSettings(b)
	b.Rooms = newRooms(b)
	b.health.init()
	b.done.Add(1)
	go b.probeLoop()
	return b, nil
}

// check verifies the server version and mode.
func (b *Backend) check(cluster bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cluster != (b.client.Mode() == rueidis.ClientModeCluster) {
		if cluster {
			return fmt.Errorf("--redis-url: %s is not a Redis Cluster; use redis:// for a single server", Redacted(b.cfg.URL))
		}
		return fmt.Errorf("--redis-url: %s is a Redis Cluster; use redis+cluster://", Redacted(b.cfg.URL))
	}
	for addr, node := range b.client.Nodes() {
		info, err := node.Do(ctx, node.B().Info().Section("server").Build()).ToString()
		if err != nil {
			return fmt.Errorf("redis at %s: INFO: %w", addr, err)
		}
		if v := infoField(info, "redis_version"); majorVersion(v) < 7 {
			return fmt.Errorf("redis at %s is version %s; presenced needs 7.0 or later (sharded pub/sub)", addr, v)
		}
		if !cluster {
			info, err := node.Do(ctx, node.B().Info().Section("cluster").Build()).ToString()
			if err == nil && infoField(info, "cluster_enabled") == "1" {
				return fmt.Errorf("--redis-url: %s is a Redis Cluster node; use redis+cluster://", Redacted(b.cfg.URL))
			}
		}
	}
	return nil
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

func majorVersion(v string) int {
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Close stops the backend's goroutines and closes its connections.
func (b *Backend) Close() {
	select {
	case <-b.stop:
		return
	default:
	}
	close(b.stop)
	b.Bus.close()
	b.done.Wait()
	b.client.Close()
}

// opContext bounds ctx by the operation timeout unless it has a deadline.
func (b *Backend) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.cfg.OpTimeout)
}

// errUnavailable wraps failures to reach Redis; the hub reports them to
// clients as "unavailable".
var errUnavailable = errors.New("redis unavailable")

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %v", errUnavailable, op, err)
}
