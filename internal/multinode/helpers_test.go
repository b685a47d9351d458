package multinode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// unchangedSince proves that w received nothing about user since it saw
// user's version v, and that nothing is on its way. The store still holds
// version v (every node writes a change to the store before publishing
// it, so nothing since v was published); then user's custom status is
// changed through n's API, and that change must be w's very next message.
// The check stays on user's own channel: a marker update of another user
// proves nothing here, since Redis orders no two channels and the marker
// may overtake a late update of user.
func unchangedSince(t *testing.T, n *node, w *client.Conn, user string, v uint64) presence.Presence {
	t.Helper()
	code, body := api(t, n, "GET", "/v1/presence/"+user, nil)
	var now presence.Presence
	if err := json.Unmarshal(body, &now); code != http.StatusOK || err != nil || now.V != v {
		t.Fatalf("GET %s = %d %s; want version %d: something changed", user, code, body, v)
	}
	text := fmt.Sprintf("checked at v%d", v)
	code, body = api(t, n, "PUT", "/v1/presence/"+user+"/status", map[string]any{"custom_status": text})
	var put presence.Presence
	if err := json.Unmarshal(body, &put); code != http.StatusOK || err != nil {
		t.Fatalf("PUT %s's status = %d %s", user, code, body)
	}
	p := update(t, w, 5*time.Second)
	if p.UserID != user || p.V != put.V || p.CustomStatus != text {
		t.Fatalf("got %s v%d %q; want only %s's check update, v%d", p.UserID, p.V, p.CustomStatus, user, put.V)
	}
	return p
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
