package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

func TestHTTPPresenceReads(t *testing.T) {
	h := start(t, nil)
	h.online("alice", "web")
	code, body := h.api("GET", "/v1/presence/alice", nil, "")
	var p presence.Presence
	if code != 200 || json.Unmarshal(body, &p) != nil || p.Status != presence.StatusOnline || p.V != 1 {
		t.Fatalf("GET alice = %d %s", code, body)
	}
	code, body = h.api("POST", "/v1/presence/bulk", map[string]any{"user_ids": []string{"alice", "ghost"}}, "")
	var bulk struct {
		Presences map[string]presence.Presence `json:"presences"`
	}
	if code != 200 || json.Unmarshal(body, &bulk) != nil || len(bulk.Presences) != 2 ||
		bulk.Presences["alice"].Status != presence.StatusOnline || bulk.Presences["ghost"].Status != presence.StatusOffline {
		t.Fatalf("bulk = %d %s", code, body)
	}
	// A user's JWT may read too, as that user.
	code, _ = h.api("GET", "/v1/presence/alice", nil, signAt(t, "bob", t0.Add(time.Hour)))
	if code != 200 {
		t.Fatalf("read with a user token = %d", code)
	}
}

func TestHTTPErrors(t *testing.T) {
	h := start(t, nil)
	many := make([]string, 1001)
	for i := range many {
		many[i] = "u"
	}
	cases := []struct {
		method, path string
		body         any
		bearer       string
		status       int
		code         string
	}{
		{"GET", "/v1/presence/alice", nil, "-", 401, "unauthorized"},
		{"GET", "/v1/presence/alice", nil, "wrong-key", 401, "unauthorized"},
		{"POST", "/v1/presence/bulk", map[string]any{"user_ids": many}, "", 413, "limit_exceeded"},
		{"POST", "/v1/presence/bulk", "not an object", "", 400, "bad_json"},
		{"PUT", "/v1/presence/alice/status", map[string]any{"status": "sleeping"}, "", 400, "invalid_argument"},
		{"PUT", "/v1/presence/alice/status", map[string]any{"status": "busy"}, signAt(t, "alice", t0.Add(time.Hour)), 403, "forbidden"},
		{"DELETE", "/v1/presence/alice/sessions", nil, "-", 401, "unauthorized"},
	}
	for _, tc := range cases {
		code, body := h.api(tc.method, tc.path, tc.body, tc.bearer)
		var e struct{ Code, Message string }
		_ = json.Unmarshal(body, &e)
		if code != tc.status || e.Code != tc.code || e.Message == "" {
			t.Errorf("%s %s → %d %s, want %d %s", tc.method, tc.path, code, body, tc.status, tc.code)
		}
	}
}

func TestHTTPSetStatusReachesSubscribers(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice")
	h.online("alice", "web")
	h.expectStatus(w, "alice", presence.StatusOnline)
	until := t0.Add(3 * time.Hour).Unix()
	code, body := h.api("PUT", "/v1/presence/alice/status", map[string]any{"activity": "in_meeting", "expires_at": until}, "")
	if code != 200 {
		t.Fatalf("PUT = %d %s", code, body)
	}
	p := h.update(w)
	if p.Activity != presence.ActivityInMeeting || p.ActivityExpiresAt != until {
		t.Fatalf("alice = %+v", p)
	}
}

func TestHTTPDisconnectUser(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice")
	a1 := h.online("alice", "web")
	a2 := h.online("alice", "mobile")
	h.expectStatus(w, "alice", presence.StatusOnline)
	h.expectStatus(w, "alice", presence.StatusOnline)
	if code, body := h.api("DELETE", "/v1/presence/alice/sessions", nil, ""); code != 204 {
		t.Fatalf("DELETE = %d %s", code, body)
	}
	// Offline at once: a disconnect by the backend has no grace.
	h.expectStatus(w, "alice", presence.StatusOffline)
	if got := h.closed(a1); got != protocol.CloseKicked {
		t.Fatalf("close = %d", got)
	}
	if got := h.closed(a2); got != protocol.CloseKicked {
		t.Fatalf("close = %d", got)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	h := start(t, nil)
	h.online("alice", "web")
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := h.api("GET", path, nil, "-"); code != 200 {
			t.Fatalf("%s = %d %s", path, code, body)
		}
	}
	resp, err := http.Get(h.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(strings.Builder)
	_, _ = io.Copy(buf, resp.Body)
	for _, name := range []string{"presenced_connections 1", "presenced_sessions 1", `presenced_messages_in_total{type="set_online"} 1`, "presenced_fanout_deliveries_total"} {
		if !strings.Contains(buf.String(), name) {
			t.Errorf("metrics lack %q", name)
		}
	}
}
