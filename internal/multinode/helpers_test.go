package multinode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, n *node, user, device string) *client.Conn {
	t.Helper()
	c, err := client.Dial(ctxFor(t, 5*time.Second), n.base, client.Options{UserID: user, Device: device, Buffer: 4096})
	if err != nil {
		t.Fatalf("dial %s on %s: %v", user, n.name, err)
	}
	t.Cleanup(c.Drop)
	return c
}

// online connects user to n and opens a presence session.
func online(t *testing.T, n *node, user, device string) *client.Conn {
	t.Helper()
	c := dial(t, n, user, device)
	if err := c.SetOnline(ctxFor(t, 5*time.Second), device); err != nil {
		t.Fatal(err)
	}
	return c
}

func watch(t *testing.T, n *node, watcher string, users ...string) (*client.Conn, map[string]presence.Presence) {
	t.Helper()
	c := dial(t, n, watcher, "watcher")
	snap, err := c.Subscribe(ctxFor(t, 5*time.Second), users...)
	if err != nil {
		t.Fatal(err)
	}
	return c, snap
}

// update waits up to within for c's next message, a presence_update.
func update(t *testing.T, c *client.Conn, within time.Duration) presence.Presence {
	t.Helper()
	m, err := c.Next(ctxFor(t, within))
	if err != nil {
		t.Fatalf("waiting %s for an update: %v", within, err)
	}
	if m.Type != protocol.TypePresenceUpdate {
		t.Fatalf("got %s, want a presence_update", m.Raw)
	}
	p, err := m.PresenceValue()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func expectStatus(t *testing.T, c *client.Conn, user string, status presence.Status, within time.Duration) presence.Presence {
	t.Helper()
	p := update(t, c, within)
	if p.UserID != user || p.Status != status {
		t.Fatalf("update %s %s (v%d), want %s %s", p.UserID, p.Status, p.V, user, status)
	}
	return p
}

// sentinel proves nothing reached w before it: marker changes its status
// and that must be w's very next message.
func sentinel(t *testing.T, w, marker *client.Conn, markerID, status string) {
	t.Helper()
	if err := marker.SetStatus(ctxFor(t, 5*time.Second), map[string]any{"status": status}); err != nil {
		t.Fatal(err)
	}
	if p := update(t, w, 5*time.Second); p.UserID != markerID || string(p.Status) != status {
		t.Fatalf("expected only the sentinel update, got %s %s", p.UserID, p.Status)
	}
}

// api calls n's HTTP API with the API key.
func api(t *testing.T, n *node, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctxFor(t, 5*time.Second), method, n.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// closed waits for the server to close c and returns the close code.
func closed(t *testing.T, c *client.Conn, within time.Duration) int {
	t.Helper()
	select {
	case <-c.Done():
		return c.CloseStatus()
	case <-time.After(within):
		t.Fatalf("connection still open after %s", within)
		return 0
	}
}
