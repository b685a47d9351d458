package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/fakeclock"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/internal/redistest"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// cluster is several nodes in this process sharing one Redis and one fake
// clock: the multi-node logic runs under the race detector with exact time.
type cluster struct {
	t     *testing.T
	clock *fakeclock.Clock
	nodes []*harness
}

func startNodes(t *testing.T, n int, redisURL string, mutate ...func(*server.Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, clock: fakeclock.New(t0)}
	for range n {
		h := start(t, func(cfg *server.Config) {
			cfg.Clock = c.clock
			cfg.RedisURL = redisURL
			for _, m := range mutate {
				m(cfg)
			}
		})
		h.clock = c.clock
		c.nodes = append(c.nodes, h)
	}
	return c
}

// advance moves the shared clock in steps, runs every node's timers at
// each step and keeps the given clients alive.
func (c *cluster) advance(total, step time.Duration, alive ...*client.Conn) {
	c.t.Helper()
	for total > 0 {
		d := min(step, total)
		c.clock.Advance(d)
		total -= d
		for _, h := range c.nodes {
			h.srv.Hub().Tick(context.Background())
		}
		c.nodes[0].keepAlive(alive...)
	}
}

func TestRedisNodesShareUpdates(t *testing.T) {
	c := startNodes(t, 2, sharedCluster(t).URL())
	a, b := c.nodes[0], c.nodes[1]
	w, _ := a.watch("watcher", "alice", "marker")
	marker := a.online("marker", "web")
	a.expectStatus(w, "marker", presence.StatusOnline)

	alice := b.online("alice", "web")
	if p := a.expectStatus(w, "alice", presence.StatusOnline); p.V == 0 || p.Device != "web" {
		t.Fatalf("alice = %+v", p)
	}
	for range 5 {
		if err := alice.Heartbeat(ctx5(t)); err != nil {
			t.Fatal(err)
		}
	}
	b.keepAlive(alice)    // B has handled the heartbeats
	a.settled(w, "alice") // heartbeats are silent

	if err := alice.SetStatus(ctx5(t), map[string]any{"status": "busy", "activity": "in_call"}); err != nil {
		t.Fatal(err)
	}
	if p := a.expectStatus(w, "alice", presence.StatusBusy); p.Activity != presence.ActivityInCall {
		t.Fatalf("alice = %+v", p)
	}
	// Either node answers reads and takes writes for any user.
	code, body := a.api("GET", "/v1/presence/alice", nil, "")
	var p presence.Presence
	if err := json.Unmarshal(body, &p); code != http.StatusOK || err != nil || p.Status != presence.StatusBusy {
		t.Fatalf("GET on the other node = %d %s", code, body)
	}
	if code, body := a.api("PUT", "/v1/presence/alice/status", map[string]any{"status": "online"}, ""); code != http.StatusOK {
		t.Fatalf("PUT = %d %s", code, body)
	}
	a.expectStatus(w, "alice", presence.StatusOnline)

	// A clean close on B: nothing during the grace, then offline on A.
	c.clock.Advance(time.Second)
	b.keepAlive(alice)
	closedAt := c.clock.Now()
	b.gone(alice, false)
	c.advance(5*time.Second-time.Millisecond, time.Second, w, marker)
	a.settled(w, "alice")
	c.advance(time.Millisecond, time.Millisecond, w, marker)
	if p := a.expectStatus(w, "alice", presence.StatusOffline); !p.LastSeen.Equal(closedAt) {
		t.Fatalf("offline = %+v, want last_seen %v", p, closedAt)
	}
}

func TestRedisReconnectToAnotherNodeIsUnseen(t *testing.T) {
	c := startNodes(t, 2, sharedCluster(t).URL())
	a, b := c.nodes[0], c.nodes[1]
	w, _ := a.watch("watcher", "alice", "marker")
	marker := a.online("marker", "web")
	a.expectStatus(w, "marker", presence.StatusOnline)
	alice := b.online("alice", "web")
	a.expectStatus(w, "alice", presence.StatusOnline)

	b.gone(alice, true)
	c.advance(2*time.Second, time.Second, w, marker)
	again := a.online("alice", "web")
	c.advance(40*time.Second, 5*time.Second, w, marker, again)
	a.settled(w, "alice")
}

func TestRedisSilentClientExpiresOnOtherNodes(t *testing.T) {
	c := startNodes(t, 2, sharedCluster(t).URL())
	a, b := c.nodes[0], c.nodes[1]
	w, _ := a.watch("watcher", "alice")
	silent, err := client.DialSilent(ctx5(t), b.base, client.Options{UserID: "alice", Device: "web"})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	a.expectStatus(w, "alice", presence.StatusOnline)
	c.advance(30*time.Second, 5*time.Second, w)
	if p := a.expectStatus(w, "alice", presence.StatusOffline); !p.LastSeen.Equal(t0) {
		t.Fatalf("last_seen = %v, want %v", p.LastSeen, t0)
	}
}

func TestRedisKickClosesConnectionsOnEveryNode(t *testing.T) {
	c := startNodes(t, 3, sharedCluster(t).URL())
	w, _ := c.nodes[0].watch("watcher", "alice")
	on1 := c.nodes[1].online("alice", "web")
	c.nodes[0].expectStatus(w, "alice", presence.StatusOnline)
	on2 := c.nodes[2].online("alice", "mobile")
	c.nodes[0].expectStatus(w, "alice", presence.StatusOnline)

	if code, body := c.nodes[0].api("DELETE", "/v1/presence/alice/sessions", nil, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", code, body)
	}
	for _, conn := range []*client.Conn{on1, on2} {
		if got := c.nodes[0].closed(conn); got != protocol.CloseKicked {
			t.Fatalf("close = %d, want %d", got, protocol.CloseKicked)
		}
	}
	c.nodes[0].expectStatus(w, "alice", presence.StatusOffline)
	// Nothing comes back: the kicked sessions stay ended.
	c.advance(time.Minute, 10*time.Second, w)
	ps, err := w.GetPresence(ctx5(t), "alice")
	if err != nil || ps["alice"].Status != presence.StatusOffline {
		t.Fatalf("alice after the kick = %+v, %v", ps["alice"], err)
	}
}

// TestRedisOutage stops Redis under a node with clients: the node says it
// is not ready, tells its clients, refuses new connections with 4004 and
// requests with "unavailable". Redis comes back with its data (it keeps an
// append-only file), in which the node's lease has lapsed; the node
// recovers by itself, renews its lease before any reaper takes it over,
// and nobody sees its sessions flap.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c := startNodes(t, 1, srv.URL())
	a := c.nodes[0]
	w, _ := a.watch("watcher", "alice", "marker")
	marker := a.online("marker", "web")
	a.expectStatus(w, "marker", presence.StatusOnline)
	alice := a.online("alice", "web")
	a.expectStatus(w, "alice", presence.StatusOnline)

	srv.Kill()
	poll.Until(t, "/readyz to fail", func() bool {
		code, _ := a.api("GET", "/readyz", nil, "-")
		return code == http.StatusServiceUnavailable
	})
	if m := a.next(w); m.Type != protocol.TypeError || m.Code != string(presence.CodeUnavailable) {
		t.Fatalf("watcher got %s, want an unavailable notice", m.Raw)
	}
	if err := alice.SetStatus(ctx5(t), map[string]any{"status": "busy"}); presence.ErrorCode(err) != presence.CodeUnavailable {
		t.Fatalf("set_status during the outage: %v", err)
	}
	if code, body := a.api("GET", "/v1/presence/alice", nil, ""); code != http.StatusServiceUnavailable {
		t.Fatalf("GET during the outage = %d %s", code, body)
	}
	if _, err := client.Dial(ctx5(t), a.base, client.Options{UserID: "late"}); websocket.CloseStatus(err) != protocol.CloseUnavailable {
		t.Fatalf("new connection: %v, want close %d", err, protocol.CloseUnavailable)
	}
	// The outage outlasts the sessions' stored expiry; the clients stay.
	c.advance(time.Minute, 5*time.Second, w, marker, alice)

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "/readyz to recover", func() bool { code, _ := a.api("GET", "/readyz", nil, "-"); return code == http.StatusOK })
	poll.Until(t, "the sessions to be written back", func() bool {
		st, err := a.srv.Hub().Config().Store.Load(ctx5(t), []string{"alice"})
		s := st["alice"].Sessions
		// A session has no stored expiry of its own on a store with node
		// leases: the node's lease, renewed first, stands for it.
		return err == nil && len(s) == 1 && (s[0].ExpiresAt.IsZero() || s[0].ExpiresAt.After(c.clock.Now()))
	})
	// The reapers see the sessions refreshed; alice was never seen leaving.
	c.advance(time.Minute, 5*time.Second, w, marker, alice)
	a.settled(w, "alice")
	if err := alice.SetStatus(ctx5(t), map[string]any{"status": "busy"}); err != nil {
		t.Fatal(err)
	}
	a.expectStatus(w, "alice", presence.StatusBusy)
}

func TestBadRedisURLRefusesToStart(t *testing.T) {
	for url, want := range map[string]string{
		"redis://a:1,b:2":     "--redis-url",
		"memcached://h:1":     "--redis-url",
		"redis://127.0.0.1:1": "unavailable",
	} {
		_, err := server.New(server.Config{Addr: "127.0.0.1:0", Dev: true, RedisURL: url})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error mentioning %q", url, err, want)
		}
	}
}

// TestRedisOverTLSWithPassword runs a node on a Redis that serves TLS and
// requires a password, both given in the URL; the plain scheme, or a
// wrong password, refuses to start.
func TestRedisOverTLSWithPassword(t *testing.T) {
	srv := redistest.StartTLS(t)
	if _, err := redistest.Do(srv.Addr(), "CONFIG", "SET", "requirepass", "s3cret"); err != nil {
		t.Fatal(err)
	}
	// The certificate is self-signed: skip_verify (a rueidis parameter).
	// A deployment gives its CA to the process (SSL_CERT_FILE) instead.
	url := "rediss://:s3cret@" + srv.TLSAddr() + "/?skip_verify=true"
	for bad, want := range map[string]string{
		"redis://:s3cret@" + srv.TLSAddr():                        "unavailable",
		"rediss://:wrong@" + srv.TLSAddr() + "/?skip_verify=true": "unavailable",
	} {
		if _, err := server.New(server.Config{Addr: "127.0.0.1:0", Dev: true, RedisURL: bad}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error mentioning %q", bad, err, want)
		}
	}
	h := start(t, func(cfg *server.Config) { cfg.RedisURL = url })
	h.online("alice", "web")
	code, body := h.api("GET", "/v1/presence/alice", nil, "")
	var p presence.Presence
	if code != 200 || json.Unmarshal(body, &p) != nil || p.Status != presence.StatusOnline {
		t.Fatalf("GET alice = %d %s", code, body)
	}
}
