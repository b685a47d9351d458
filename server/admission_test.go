package server_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/server"
)

// refusedDial dials user and expects the upgrade to be refused with HTTP
// 429 and the usual JSON error body.
func (h *harness) refusedDial(user, mention string) {
	h.t.Helper()
	code, e := h.upgrade("user_id="+url.QueryEscape(user), http.Header{})
	if code != http.StatusTooManyRequests || e["code"] != "rate_limited" || !strings.Contains(e["message"], mention) {
		h.t.Fatalf("dial %s: HTTP %d %v, want 429 rate_limited mentioning %q", user, code, e, mention)
	}
}

// expectMetric checks the value /metrics reports for series.
func (h *harness) expectMetric(series, want string) {
	h.t.Helper()
	code, body := h.api("GET", "/metrics", nil, "-")
	if code != http.StatusOK {
		h.t.Fatalf("/metrics: %d", code)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			if v != want {
				h.t.Fatalf("%s = %s, want %s", series, v, want)
			}
			return
		}
	}
	h.t.Fatalf("/metrics lacks %s", series)
}

func TestConnectionsPerUserAreBounded(t *testing.T) {
	h := start(t, func(c *server.Config) { c.MaxConnectionsPerUser = 3 })
	alice := []*client.Conn{h.dial("alice", "a"), h.dial("alice", "b"), h.dial("alice", "c")}
	h.refusedDial("alice", "3 connections")
	// Other users are not affected, and a closed connection frees its place.
	h.dial("bob", "web")
	h.gone(alice[0], false)
	h.dial("alice", "d")
	h.refusedDial("alice", "3 connections")
	h.expectMetric(`presenced_refused_total{limit="max_connections_per_user"}`, "2")
}

func TestConnectionsPerNodeAreBounded(t *testing.T) {
	h := start(t, func(c *server.Config) { c.MaxConnections = 2 })
	a := h.dial("alice", "web")
	h.dial("bob", "web")
	h.refusedDial("carol", "maximum of 2 connections")
	h.gone(a, true)
	h.dial("carol", "web")
	h.expectMetric(`presenced_refused_total{limit="max_connections"}`, "1")
	h.expectMetric("presenced_handler_queue", "0")
}

// The users one user watches are bounded across all their connections,
// so opening more connections does not multiply --max-subscriptions.
func TestWatchedUsersPerUserAreBounded(t *testing.T) {
	h := start(t, func(c *server.Config) { c.MaxWatchedPerUser = 4 })
	c1 := h.dial("alice", "one")
	c2 := h.dial("alice", "two")
	if _, err := c1.Subscribe(ctx5(t), "a", "b", "c"); err != nil {
		t.Fatal(err)
	}
	_, err := c2.Subscribe(ctx5(t), "a", "d")
	var pe *presence.Error
	if !errors.As(err, &pe) || pe.Code != presence.CodeLimitExceeded || !strings.Contains(pe.Message, "at most 4") {
		t.Fatalf("err = %v, want limit_exceeded naming the bound", err)
	}
	// The refused request added nothing: one more still fits.
	if _, err := c2.Subscribe(ctx5(t), "d"); err != nil {
		t.Fatal(err)
	}
	// Unsubscribing and closing give places back.
	if err := c1.Unsubscribe(ctx5(t), "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Subscribe(ctx5(t), "e"); err != nil {
		t.Fatal(err)
	}
	h.gone(c1, false)
	if _, err := c2.Subscribe(ctx5(t), "f", "g"); err != nil {
		t.Fatal(err)
	}
	// Another user has a bound of their own.
	if _, err := h.dial("bob", "web").Subscribe(ctx5(t), "a", "b", "c", "d"); err != nil {
		t.Fatal(err)
	}
	h.expectMetric(`presenced_refused_total{limit="watched_per_user"}`, "1")
}
