//go:build linux

package leanws_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/leanws"
	"github.com/presenced/presenced/server"
)

// recorder is a Handler that keeps what it receives.
type recorder struct {
	mu     sync.Mutex
	msgs   []string
	closed chan error
}

func newRecorder() *recorder { return &recorder{closed: make(chan error, 1)} }

func (r *recorder) OnMessage(_ *leanws.Conn, b []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(b))
	r.mu.Unlock()
}

func (r *recorder) OnClose(_ *leanws.Conn, err error) { r.closed <- err }

// waitFor returns the first message containing want.
func (r *recorder) waitFor(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, m := range r.msgs {
			if strings.Contains(m, want) {
				r.mu.Unlock()
				return m
			}
		}
		r.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no message with %q; got %q", want, r.msgs)
	return ""
}

func (r *recorder) waitClose(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.closed:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose was not called")
		return nil
	}
}

func startServer(t *testing.T, mutate func(*server.Config)) string {
	t.Helper()
	// A data file of its own: a node keeps the sessions a previous run left
	// in their grace, so a shared ./data would carry one test's users into
	// the next.
	cfg := server.Config{Addr: "127.0.0.1:0", Dev: true, DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv.Addr()
}

func newPoller(t *testing.T) *leanws.Poller {
	p, err := leanws.NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func dial(t *testing.T, p *leanws.Poller, addr, user string, h leanws.Handler) *leanws.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.Dial(ctx, "ws://"+addr+"/v1/ws?user_id="+user, h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSpeaksTheProtocol(t *testing.T) {
	addr := startServer(t, nil)
	p := newPoller(t)
	alice, bob := newRecorder(), newRecorder()
	ca := dial(t, p, addr, "alice", alice)
	cb := dial(t, p, addr, "bob", bob)
	alice.waitFor(t, `"type":"welcome"`)
	if err := cb.WriteText([]byte(`{"type":"subscribe","id":1,"user_ids":["alice"]}`)); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, `"type":"initial_presence"`)
	if err := ca.WriteText([]byte(`{"type":"set_online"}`)); err != nil {
		t.Fatal(err)
	}
	if m := bob.waitFor(t, `"type":"presence_update"`); !strings.Contains(m, `"status":"online"`) {
		t.Fatalf("update = %s", m)
	}
	// A frame of more than 125 bytes takes the extended length form.
	long := `{"type":"set_status","id":2,"custom_status":"` + strings.Repeat("x", 120) + `"}`
	if err := ca.WriteText([]byte(long)); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, `"type":"ack","id":2`)
	bob.waitFor(t, strings.Repeat("x", 120))
}

func TestAnswersPings(t *testing.T) {
	// The server pings a quiet connection each interval and ends it at the
	// TTL unless it answers: a connection that outlives two TTLs while
	// sending nothing proves the pongs. The TTL leaves a pong more than a
	// second to arrive, so a loaded machine (the race detector, other
	// tests) does not end the connection for a late answer.
	const interval, ttl = 250 * time.Millisecond, 1500 * time.Millisecond
	addr := startServer(t, func(c *server.Config) {
		c.HeartbeatInterval, c.HeartbeatTTL, c.TickInterval = interval, ttl, 10*time.Millisecond
	})
	p := newPoller(t)
	r := newRecorder()
	c := dial(t, p, addr, "alice", r)
	r.waitFor(t, "welcome")
	select {
	case err := <-r.closed:
		t.Fatalf("quiet connection closed: %v", err)
	case <-time.After(2 * ttl):
	}
	if err := c.WriteText([]byte(`{"type":"ping","id":9}`)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, `"type":"pong","id":9`)
}

func TestCloseCodesAndDrop(t *testing.T) {
	addr := startServer(t, nil)
	p := newPoller(t)

	kicked := newRecorder()
	dial(t, p, addr, "carol", kicked)
	kicked.waitFor(t, "welcome")
	req, _ := http.NewRequest(http.MethodDelete, "http://"+addr+"/v1/presence/carol/sessions", nil)
	req.Header.Set("Authorization", "Bearer "+server.DevAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var ce *leanws.CloseError
	if err := kicked.waitClose(t); !errors.As(err, &ce) || ce.Code != 4003 {
		t.Fatalf("kicked: OnClose(%v), want close 4003", err)
	}

	clean := newRecorder()
	c := dial(t, p, addr, "dave", clean)
	clean.waitFor(t, "welcome")
	if err := c.Close(1000, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := clean.waitClose(t); !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("clean close: OnClose(%v), want the server's 1000", err)
	}

	dropped := newRecorder()
	d := dial(t, p, addr, "erin", dropped)
	dropped.waitFor(t, "welcome")
	d.Drop()
	if err := dropped.waitClose(t); !errors.Is(err, leanws.ErrDropped) {
		t.Fatalf("drop: OnClose(%v), want ErrDropped", err)
	}
	if err := d.WriteText([]byte(`{"type":"ping"}`)); err == nil {
		t.Fatal("write after drop succeeded")
	}
}

func TestRefusedHandshake(t *testing.T) {
	addr := startServer(t, func(c *server.Config) { c.Dev = false; c.JWTSecret = "a-test-secret-of-32-bytes-length" })
	p := newPoller(t)
	_, err := p.Dial(context.Background(), "ws://"+addr+"/v1/ws?user_id=alice", newRecorder())
	var he *leanws.HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want HTTP 401", err)
	}
}
