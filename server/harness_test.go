package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/fakeclock"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const testSecret = "a-test-secret-of-32-bytes-length"

// harness runs a real node on a free port with a fake clock.
type harness struct {
	t     *testing.T
	clock *fakeclock.Clock
	srv   *server.Server
	base  string
}

func start(t *testing.T, mutate func(*server.Config)) *harness {
	t.Helper()
	clock := fakeclock.New(t0)
	cfg := server.Config{
		Addr:         "127.0.0.1:0",
		Dev:          true,
		JWTSecret:    testSecret,
		APIKey:       "test-api-key",
		Clock:        clock,
		TickInterval: 2 * time.Millisecond,
		DataDir:      t.TempDir(),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &harness{t: t, clock: clock, srv: srv, base: "http://" + srv.Addr()}
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (h *harness) dial(user, device string) *client.Conn {
	h.t.Helper()
	c, err := client.Dial(ctx5(h.t), h.base, client.Options{UserID: user, Device: device})
	if err != nil {
		h.t.Fatalf("dial %s: %v", user, err)
	}
	h.t.Cleanup(func() { c.Drop() })
	return c
}

// online dials user and opens a presence session.
func (h *harness) online(user, device string) *client.Conn {
	h.t.Helper()
	c := h.dial(user, device)
	if err := c.SetOnline(ctx5(h.t), device); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) watch(watcher string, users ...string) (*client.Conn, map[string]presence.Presence) {
	h.t.Helper()
	c := h.dial(watcher, "watcher")
	snap, err := c.Subscribe(ctx5(h.t), users...)
	if err != nil {
		h.t.Fatal(err)
	}
	return c, snap
}

// next returns c's next message, failing the test after 5s.
func (h *harness) next(c *client.Conn) client.Message {
	h.t.Helper()
	m, err := c.Next(ctx5(h.t))
	if err != nil {
		h.t.Fatalf("waiting for a message: %v", err)
	}
	return m
}

// update waits for c's next message, which must be a presence_update.
func (h *harness) update(c *client.Conn) presence.Presence {
	h.t.Helper()
	return presenceUpdate(h.t, h.next(c))
}

// presenceUpdate returns the presence m carries, which must be a
// presence_update.
func presenceUpdate(t *testing.T, m client.Message) presence.Presence {
	t.Helper()
	if m.Type != protocol.TypePresenceUpdate {
		t.Fatalf("got %s, want presence_update", m.Raw)
	}
	p, err := m.PresenceValue()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *harness) expectStatus(c *client.Conn, user string, status presence.Status) presence.Presence {
	h.t.Helper()
	p := h.update(c)
	if p.UserID != user || p.Status != status {
		h.t.Fatalf("update %+v, want %s %s", p, user, status)
	}
	return p
}

// keepAlive makes each client give a sign of life at the current fake time
// and waits until the server has processed it.
func (h *harness) keepAlive(cs ...*client.Conn) {
	h.t.Helper()
	for _, c := range cs {
		if _, err := c.Request(ctx5(h.t), map[string]any{"type": protocol.TypePing}); err != nil {
			h.t.Fatal(err)
		}
	}
}

// advance moves the fake clock in steps no longer than step, runs the
// node's timers at every step (as its ticker would, many times a step, in
// real time) and keeps the given clients alive.
func (h *harness) advance(total, step time.Duration, alive ...*client.Conn) {
	h.t.Helper()
	for total > 0 {
		d := min(step, total)
		h.clock.Advance(d)
		total -= d
		h.srv.Hub().Tick(context.Background())
		h.keepAlive(alive...)
	}
}

// settled proves that nothing about users is on its way to c, a
// connection to this node: once the node has fanned out each user's stored
// version (every node writes a change to the store before publishing it;
// see hub.Hub.Applied), no presence_update may come before the pong to a
// ping, as frames queued on one connection keep their order (other
// notices, such as a store outage's, may). A marker update of
// another user would prove nothing across nodes: Redis orders no two
// channels, so it may overtake a late update it was meant to follow.
func (h *harness) settled(c *client.Conn, users ...string) {
	h.t.Helper()
	for _, u := range users {
		var p presence.Presence
		mustJSON(h.t, h.mustAPI("GET", "/v1/presence/"+url.PathEscape(u), nil), &p)
		poll.Until(h.t, fmt.Sprintf("%s's v%d fanned out", u, p.V), func() bool {
			// A user no connection here watches has nothing to send.
			v, ok := h.srv.Hub().Applied(u)
			return !ok || v >= p.V
		})
	}
	if err := c.SendRaw(ctx5(h.t), []byte(`{"type":"ping"}`)); err != nil {
		h.t.Fatal(err)
	}
	for {
		switch m := h.next(c); m.Type {
		case protocol.TypePong:
			return
		case protocol.TypePresenceUpdate:
			h.t.Fatalf("expected no update of %v, got %s", users, m.Raw)
		}
	}
}

// api calls the HTTP API with the test key (or the given bearer).
func (h *harness) api(method, path string, body any, bearer string) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx5(h.t), method, h.base+path, rd)
	if bearer == "" {
		bearer = "test-api-key"
	}
	if bearer != "-" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// signAt makes an HS256 token for user that expires at exp.
func signAt(t *testing.T, user string, exp time.Time) string {
	t.Helper()
	tok, err := auth.SignExpiring(testSecret, user, exp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// closed waits for the server to close c and returns the close code.
func (h *harness) closed(c *client.Conn) int {
	h.t.Helper()
	select {
	case <-c.Done():
		return c.CloseStatus()
	case <-time.After(5 * time.Second):
		h.t.Fatal("connection still open after 5s")
		return 0
	}
}

// gone closes c from the client side (cleanly, or by dropping the socket)
// and waits until the server has processed the close, so that the grace
// starts at the current fake time.
func (h *harness) gone(c *client.Conn, drop bool) {
	h.t.Helper()
	before := h.srv.Hub().ClientCount()
	if drop {
		c.Drop()
	} else if err := c.Close(); err != nil {
		h.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.Hub().ClientCount() >= before {
		if time.Now().After(deadline) {
			h.t.Fatal("server did not see the close")
		}
		time.Sleep(time.Millisecond)
	}
}
