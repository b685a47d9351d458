package server_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// rawConn opens a TCP connection to the node and writes the request head
// (and any body bytes) it is given, as a slow or idle client would.
func (h *harness) rawConn(request string) net.Conn {
	h.t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = nc.Close() })
	if request != "" {
		if _, err := io.WriteString(nc, request); err != nil {
			h.t.Fatal(err)
		}
	}
	return nc
}

// slowBulk is a bulk read whose body never arrives in full.
const slowBulk = "POST /v1/presence/bulk HTTP/1.1\r\nHost: presenced\r\nAuthorization: Bearer test-api-key\r\n" +
	"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user_ids\":["

// waitClosed reads nc until the server closes it and fails the test if that
// takes longer than within.
func waitClosed(t *testing.T, nc net.Conn, within time.Duration) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s", within)
	}
}

func TestHTTPSlowBodyIsCutAtTheReadTimeout(t *testing.T) {
	h := start(t, func(c *server.Config) { c.HTTPReadTimeout = 300 * time.Millisecond })
	began := time.Now()
	nc := h.rawConn(slowBulk)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("no answer to a body that stopped coming: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Code, Message string }
	if resp.StatusCode != 400 || json.Unmarshal(body, &e) != nil || e.Code != "bad_json" || strings.Contains(e.Message, "127.0.0.1") {
		t.Fatalf("answer = %d %s, want 400 bad_json naming no address", resp.StatusCode, body)
	}
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Fatalf("the request was cut after %s, before its read timeout", took)
	}
	waitClosed(t, nc, 5*time.Second)
}

func TestHTTPIdleKeepAliveIsClosed(t *testing.T) {
	h := start(t, func(c *server.Config) { c.HTTPIdleTimeout = 300 * time.Millisecond })
	nc := h.rawConn("GET /healthz HTTP/1.1\r\nHost: presenced\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != 200 || resp.Close {
		t.Fatalf("healthz = %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	waitClosed(t, nc, 5*time.Second)
}

func TestHTTPConcurrentRequestCap(t *testing.T) {
	h := start(t, func(c *server.Config) { c.MaxHTTPRequests = 2; c.HTTPReadTimeout = time.Minute })
	held := []net.Conn{h.rawConn(slowBulk), h.rawConn(slowBulk)}
	// The slow requests hold both slots once their handlers run; until then
	// reads are served.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := h.api("GET", "/v1/presence/alice", nil, "")
		if code == http.StatusServiceUnavailable {
			var e struct{ Code, Message string }
			if json.Unmarshal(body, &e) != nil || e.Code != "unavailable" || e.Message == "" {
				t.Fatalf("refused with %s", body)
			}
			break
		}
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("GET = %d %s while two slow requests should hold both slots", code, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Neither a liveness probe nor a WebSocket upgrade counts.
	if code, body := h.api("GET", "/healthz", nil, ""); code != 200 {
		t.Fatalf("healthz = %d %s", code, body)
	}
	ws := h.online("alice", "web")
	if _, err := ws.Request(ctx5(t), map[string]any{"type": protocol.TypePing}); err != nil {
		t.Fatal(err)
	}
	for _, nc := range held {
		_ = nc.Close()
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, _ := h.api("GET", "/v1/presence/alice", nil, "")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET = %d after the slow requests went away", code)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebSocketOutlivesTheHTTPReadTimeout: the deadline net/http set while
// reading the upgrade request does not cut the WebSocket after it.
func TestWebSocketOutlivesTheHTTPReadTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	h := start(t, func(c *server.Config) { c.HTTPReadTimeout = timeout })
	ws := h.online("alice", "web")
	// Real time must pass the deadline; no event marks it.
	time.Sleep(3 * timeout)
	if _, err := ws.Request(ctx5(t), map[string]any{"type": protocol.TypePing}); err != nil {
		t.Fatalf("ping after the read timeout: %v (close %d)", err, ws.CloseStatus())
	}
}

func TestHTTPNonCanonicalPathIsNotFound(t *testing.T) {
	h := start(t, nil)
	h.mustAPI("PUT", "/v1/users/alice/blocks", map[string]any{"blocks": []string{"bob"}})
	code, body := h.api("GET", "/v1/presence/../users/alice/export", nil, "")
	var e struct{ Code string }
	if code != http.StatusNotFound || json.Unmarshal(body, &e) != nil || e.Code != "not_found" {
		t.Fatalf("GET /v1/presence/../users/alice/export = %d %s, want 404 not_found", code, body)
	}
}
