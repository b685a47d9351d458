package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// errorReply sends raw and returns the error reply it gets.
func (h *harness) errorReply(c *client.Conn, raw string) client.Message {
	h.t.Helper()
	if err := c.SendRaw(ctx5(h.t), []byte(raw)); err != nil {
		h.t.Fatal(err)
	}
	m := h.next(c)
	if m.Type != protocol.TypeError {
		h.t.Fatalf("reply to %s = %s, want an error", raw, m.Raw)
	}
	return m
}

func TestBadMessagesGetClearErrorsAndKeepTheConnection(t *testing.T) {
	h := start(t, nil)
	c := h.online("alice", "web")
	many := make([]string, protocol.MaxIDsPerRequest+1)
	for i := range many {
		many[i] = "u" + strings.Repeat("x", i%7)
	}
	manyJSON, _ := json.Marshal(many)
	cases := []struct {
		raw, code, mention string
	}{
		{`{"type":`, "bad_json", ""},
		{`[1,2,3]`, "bad_json", ""},
		{`{"type":"teleport"}`, "unknown_type", "teleport"},
		{`{"id":7}`, "unknown_type", ""},
		{`{"type":"set_status","status":"sleeping"}`, "invalid_argument", "online, away, busy"},
		{`{"type":"set_status","activity":"napping"}`, "invalid_argument", "in_call"},
		{`{"type":"set_status","custom_status":"` + strings.Repeat("é", 129) + `"}`, "invalid_argument", "128"},
		{`{"type":"set_status","custom_status":"x","expires_at":1}`, "invalid_argument", "future"},
		{`{"type":"set_status"}`, "invalid_argument", ""},
		{`{"type":"idle_state"}`, "invalid_argument", "idle"},
		{`{"type":"subscribe","user_ids":[]}`, "invalid_argument", ""},
		{`{"type":"subscribe","user_ids":["a\u0000b"]}`, "invalid_argument", "control"},
		{`{"type":"subscribe","user_ids":` + string(manyJSON) + `}`, "limit_exceeded", "1000"},
		{`{"type":"get_presence","user_ids":` + string(manyJSON) + `}`, "limit_exceeded", "1000"},
		{`{"type":"set_online","device":"` + strings.Repeat("d", 65) + `"}`, "invalid_argument", "device"},
	}
	for _, tc := range cases {
		m := h.errorReply(c, tc.raw)
		if m.Code != tc.code || !strings.Contains(m.Message, tc.mention) {
			t.Errorf("%s → %s %q, want %s mentioning %q", tc.raw, m.Code, m.Message, tc.code, tc.mention)
		}
	}
	// The id of a failed request comes back with the error.
	m := h.errorReply(c, `{"type":"set_status","status":"nope","id":"r1"}`)
	if string(m.ID) != `"r1"` {
		t.Fatalf("error id = %s", m.ID)
	}
	// Still open and working, and nothing changed.
	ps, err := c.GetPresence(ctx5(t), "alice")
	if err != nil || ps["alice"].Status != presence.StatusOnline || ps["alice"].V != 1 {
		t.Fatalf("after bad input: %+v %v", ps, err)
	}
}

func TestOversizeFrameCloses1009(t *testing.T) {
	h := start(t, func(c *server.Config) { c.MaxMessageBytes = 1024 })
	w, _ := h.watch("watcher", "bystander")
	c := h.dial("alice", "web")
	big := `{"type":"set_status","custom_status":"` + strings.Repeat("x", 2000) + `"}`
	_ = c.SendRaw(ctx5(t), []byte(big))
	if got := h.closed(c); got != protocol.CloseTooBig {
		t.Fatalf("close status = %d, want 1009", got)
	}
	if _, err := w.GetPresence(ctx5(t), "alice"); err != nil {
		t.Fatalf("another connection was affected: %v", err)
	}
}

func TestSubscriptionLimitPerConnection(t *testing.T) {
	h := start(t, func(c *server.Config) { c.MaxSubscriptions = 3 })
	c := h.dial("alice", "web")
	if _, err := c.Subscribe(ctx5(t), "a", "b"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Subscribe(ctx5(t), "b", "c", "d")
	var pe *presence.Error
	if !errors.As(err, &pe) || pe.Code != presence.CodeLimitExceeded {
		t.Fatalf("err = %v, want limit_exceeded", err)
	}
	// Re-subscribing to watched users does not count twice.
	if _, err := c.Subscribe(ctx5(t), "a", "b", "c"); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimitThenClose(t *testing.T) {
	h := start(t, func(c *server.Config) { c.RatePerSecond = 1; c.RateBurst = 5 })
	other := h.online("bob", "web")
	c := h.dial("alice", "web")
	// The fake clock stands still, so no token comes back: the 6th message
	// is refused, and a flood past the refusal limit closes the connection.
	for range 5 {
		if err := c.SendRaw(ctx5(t), []byte(`{"type":"ping","id":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if m := h.next(c); m.Type != protocol.TypePong {
			t.Fatalf("got %s within the burst", m.Raw)
		}
	}
	m := h.errorReply(c, `{"type":"ping"}`)
	if m.Code != "rate_limited" {
		t.Fatalf("code = %s", m.Code)
	}
	for range 150 {
		if c.SendRaw(ctx5(t), []byte(`{"type":"ping"}`)) != nil {
			break
		}
	}
	if got := h.closed(c); got != protocol.CloseRateLimited {
		t.Fatalf("close status = %d, want %d", got, protocol.CloseRateLimited)
	}
	h.keepAlive(other) // nobody else is affected
}

func TestHandshakeAuth(t *testing.T) {
	h := start(t, func(c *server.Config) { c.Dev = false })
	expect401 := func(opts client.Options) {
		t.Helper()
		_, err := client.Dial(ctx5(t), h.base, opts)
		var he *client.HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
			t.Fatalf("dial %+v: err = %v, want HTTP 401", opts, err)
		}
	}
	expect401(client.Options{})
	expect401(client.Options{UserID: "alice"}) // not in dev mode
	expect401(client.Options{Token: "not.a.jwt"})
	wrong, _ := auth.Sign("another-secret-of-32-bytes-long!", "alice", time.Hour, nil)
	expect401(client.Options{Token: wrong})
	// The fake clock is in 2026-11-27; a token that expired an hour before
	// it is refused.
	expired := signAt(t, "alice", t0.Add(-time.Hour))
	expect401(client.Options{Token: expired})

	good := signAt(t, "alice", t0.Add(time.Hour))
	c, err := client.Dial(ctx5(t), h.base, client.Options{Token: good})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Drop()
	if c.Welcome.UserID != "alice" {
		t.Fatalf("welcome = %s", c.Welcome.Raw)
	}
}

func TestTokenExpiryClosesConnection(t *testing.T) {
	h := start(t, func(c *server.Config) { c.Dev = false })
	c, err := client.Dial(ctx5(t), h.base, client.Options{Token: signAt(t, "alice", t0.Add(10*time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Drop()
	// The connection ends when the verifier would stop accepting the
	// token: at its exp plus the leeway.
	h.advance(10*time.Second+auth.Leeway, 5*time.Second)
	if got := h.closed(c); got != protocol.CloseAuthExpired {
		t.Fatalf("close status = %d, want %d", got, protocol.CloseAuthExpired)
	}
}

func TestNoKeyRefusesToStart(t *testing.T) {
	_, err := server.New(server.Config{Addr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "--jwt-secret") || !strings.Contains(err.Error(), "--dev") {
		t.Fatalf("err = %v", err)
	}
}

func TestShutdownTellsClientsToReconnect(t *testing.T) {
	h := start(t, nil)
	c := h.online("alice", "web")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.closed(c); got != protocol.CloseServiceRestart {
		t.Fatalf("close status = %d, want 1012", got)
	}
}
