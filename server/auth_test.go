package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// A token the upgrade accepts within the verifier's leeway keeps its
// connection open until the end of that leeway, not a moment less.
func TestTokenWithinLeewayIsNotClosedAtOnce(t *testing.T) {
	h := start(t, func(c *server.Config) { c.Dev = false })
	exp := t0.Add(-2 * time.Second)
	c, err := client.Dial(ctx5(t), h.base, client.Options{Token: signAt(t, "alice", exp)})
	if err != nil {
		t.Fatalf("a token expired by less than the leeway was refused: %v", err)
	}
	defer c.Drop()
	h.srv.Hub().Tick(context.Background())
	h.advance(exp.Add(auth.Leeway).Sub(t0)-time.Millisecond, time.Second, c)
	h.keepAlive(c) // still open: a reply came
	h.advance(time.Millisecond, time.Millisecond)
	if got := h.closed(c); got != protocol.CloseAuthExpired {
		t.Fatalf("close status = %d, want %d", got, protocol.CloseAuthExpired)
	}
}

func TestBearerHeaderUpgrade(t *testing.T) {
	h := start(t, func(c *server.Config) { c.Dev = false })
	bearer := func(v string) http.Header { return http.Header{"Authorization": {v}} }
	c, err := client.Dial(ctx5(t), h.base, client.Options{Header: bearer("Bearer " + signAt(t, "alice", t0.Add(time.Hour)))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Drop()
	if c.Welcome.UserID != "alice" {
		t.Fatalf("welcome = %s", c.Welcome.Raw)
	}
	for name, opts := range map[string]client.Options{
		"not bearer":   {Header: bearer("Basic YWxpY2U6eA==")},
		"empty bearer": {Header: bearer("Bearer ")},
		"bad token":    {Header: bearer("Bearer not.a.jwt")},
		"expired":      {Header: bearer("Bearer " + signAt(t, "alice", t0.Add(-time.Hour)))},
		"both ways":    {Header: bearer("Bearer " + signAt(t, "alice", t0.Add(time.Hour))), Token: signAt(t, "bob", t0.Add(time.Hour))},
	} {
		_, err := client.Dial(ctx5(t), h.base, opts)
		if he, ok := err.(*client.HandshakeError); !ok || he.Status != http.StatusUnauthorized {
			t.Errorf("%s: err = %v, want a 401 handshake error", name, err)
		}
	}
}

func TestRefreshTokenExtendsTheConnection(t *testing.T) {
	h := start(t, func(c *server.Config) { c.Dev = false })
	c, err := client.Dial(ctx5(t), h.base, client.Options{Token: signAt(t, "alice", t0.Add(10*time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Drop()
	refresh := func(tok string) client.Message {
		t.Helper()
		m, err := c.Request(ctx5(t), map[string]any{"type": protocol.TypeRefreshToken, "token": tok})
		if err != nil && m.Type != protocol.TypeError {
			t.Fatal(err)
		}
		return m
	}
	for name, tc := range map[string]struct{ tok, code string }{
		"another user": {signAt(t, "bob", t0.Add(time.Hour)), "invalid_argument"},
		"bad token":    {"not.a.jwt", "unauthorized"},
		"expired":      {signAt(t, "alice", t0.Add(-time.Hour)), "unauthorized"},
		"no token":     {"", "invalid_argument"},
	} {
		if m := refresh(tc.tok); m.Type != protocol.TypeError || m.Code != tc.code {
			t.Errorf("%s: reply %s, want error %s", name, m.Raw, tc.code)
		}
	}
	if m := refresh(signAt(t, "alice", t0.Add(time.Hour))); m.Type != protocol.TypeAck {
		t.Fatalf("reply %s, want ack", m.Raw)
	}
	// Well past the first token's expiry, the connection is open.
	h.advance(30*time.Second, 5*time.Second, c)
	// A refresh may also shorten the connection's life: the new token is
	// the credential from now on.
	if m := refresh(signAt(t, "alice", t0.Add(40*time.Second))); m.Type != protocol.TypeAck {
		t.Fatalf("reply %s, want ack", m.Raw)
	}
	h.advance(10*time.Second+auth.Leeway, time.Second)
	if got := h.closed(c); got != protocol.CloseAuthExpired {
		t.Fatalf("close status = %d, want %d", got, protocol.CloseAuthExpired)
	}
}

// upgrade sends a WebSocket upgrade request with the given headers and
// returns the status and the JSON error, if any.
func (h *harness) upgrade(query string, header http.Header) (int, map[string]string) {
	h.t.Helper()
	req, _ := http.NewRequestWithContext(ctx5(h.t), "GET", h.base+"/v1/ws?"+query, nil)
	req.Header = header.Clone()
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, nil // the body is the WebSocket
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body
}

func TestDevModeAllowsOnlyLoopbackOrigins(t *testing.T) {
	h := start(t, nil)
	for origin, want := range map[string]int{
		"":                          http.StatusSwitchingProtocols, // not a browser
		"http://localhost:3000":     http.StatusSwitchingProtocols,
		"https://127.0.0.1:8443":    http.StatusSwitchingProtocols,
		"http://[::1]:5173":         http.StatusSwitchingProtocols,
		"https://evil.example":      http.StatusForbidden,
		"http://localhost.evil.com": http.StatusForbidden,
		"http://localhost@evil.com": http.StatusForbidden,
		"null":                      http.StatusForbidden,
		"file://":                   http.StatusForbidden,
	} {
		hdr := http.Header{}
		if origin != "" {
			hdr.Set("Origin", origin)
		}
		status, body := h.upgrade("user_id=alice", hdr)
		if status != want {
			t.Errorf("Origin %q: status %d, want %d", origin, status, want)
		}
		if want == http.StatusForbidden && body["code"] != "forbidden" {
			t.Errorf("Origin %q: body %v, want code forbidden", origin, body)
		}
	}
}

func TestAllowedOrigins(t *testing.T) {
	tok := signAt(t, "alice", t0.Add(time.Hour))
	h := start(t, func(c *server.Config) {
		c.Dev = false
		c.AllowedOrigins = []string{"https://app.example.com", "https://*.example.org"}
	})
	for origin, want := range map[string]int{
		"https://app.example.com":  http.StatusSwitchingProtocols,
		"HTTPS://APP.EXAMPLE.COM":  http.StatusSwitchingProtocols,
		"https://a.b.example.org":  http.StatusSwitchingProtocols,
		"https://example.org":      http.StatusForbidden,
		"http://app.example.com":   http.StatusForbidden,
		"https://app.example.com.": http.StatusForbidden,
		"https://evilexample.org":  http.StatusForbidden,
		"http://localhost:3000":    http.StatusForbidden,
	} {
		status, _ := h.upgrade("token="+tok, http.Header{"Origin": {origin}})
		if status != want {
			t.Errorf("Origin %q: status %d, want %d", origin, status, want)
		}
	}
	// The origin is judged before the credential: a refused page learns
	// nothing about the token.
	if status, body := h.upgrade("token=bad", http.Header{"Origin": {"https://evil.example"}}); status != http.StatusForbidden || body["code"] != "forbidden" {
		t.Fatalf("status %d body %v", status, body)
	}
	// Without a list, a token-only node takes any origin.
	h2 := start(t, func(c *server.Config) { c.Dev = false })
	if status, _ := h2.upgrade("token="+tok, http.Header{"Origin": {"https://anywhere.example"}}); status != http.StatusSwitchingProtocols {
		t.Fatalf("default origins: status %d", status)
	}
	if _, err := server.New(server.Config{Addr: "127.0.0.1:0", Dev: true, DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), AllowedOrigins: []string{"app.example.com"}}); err == nil || !strings.Contains(err.Error(), "--allowed-origins") {
		t.Fatalf("an origin without a scheme: err = %v", err)
	}
}

func TestInternalListener(t *testing.T) {
	h := start(t, func(c *server.Config) { c.InternalAddr = "127.0.0.1:0" })
	internal := "http://" + h.srv.InternalAddr()
	get := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string][2]int{
		"/metrics":               {http.StatusNotFound, http.StatusOK},
		"/debug/pprof/":          {http.StatusNotFound, http.StatusOK},
		"/healthz":               {http.StatusOK, http.StatusOK},
		"/readyz":                {http.StatusOK, http.StatusOK},
		"/v1/presence/alice":     {http.StatusUnauthorized, http.StatusNotFound},
		"/debug/pprof/cmdline":   {http.StatusNotFound, http.StatusOK},
		"/v1/users/alice/export": {http.StatusUnauthorized, http.StatusNotFound},
	} {
		if got := get(h.base + path); got != want[0] {
			t.Errorf("public %s: %d, want %d", path, got, want[0])
		}
		if got := get(internal + path); got != want[1] {
			t.Errorf("internal %s: %d, want %d", path, got, want[1])
		}
	}
	// Without it, /metrics stays on the public port.
	h2 := start(t, nil)
	if got := get(h2.base + "/metrics"); got != http.StatusOK {
		t.Fatalf("public /metrics without --internal-addr: %d", got)
	}
}

// A node whose identity provider is down starts, and tells clients to come
// back later rather than that their tokens are bad.
func TestJWKSDownAtStart(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer down.Close()
	h := start(t, func(c *server.Config) {
		c.Dev = false
		c.JWTSecret = ""
		c.JWTJWKSURL = down.URL
	})
	status, body := h.upgrade("token=eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2ln", http.Header{})
	if status != http.StatusServiceUnavailable || body["code"] != "unavailable" {
		t.Fatalf("status %d body %v, want 503 unavailable", status, body)
	}
}

// A node verifying tokens with a provider's key set takes a token signed
// with a key the provider rotated in after the node started.
func TestJWKSRotationOverWebSocket(t *testing.T) {
	var published atomic.Pointer[[]byte]
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(*published.Load())
	}))
	defer jwks.Close()
	publish := func(kid string, key *ecdsa.PrivateKey) {
		b, _ := key.PublicKey.Bytes()
		enc := base64.RawURLEncoding.EncodeToString
		doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kid": kid, "kty": "EC", "crv": "P-256", "alg": "ES256", "x": enc(b[1:33]), "y": enc(b[33:])}}})
		published.Store(&doc)
	}
	sign := func(kid string, key *ecdsa.PrivateKey, user string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": user, "exp": t0.Add(time.Hour).Unix(), "iss": "https://id.test", "aud": "presenced"})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	publish("k1", k1)
	h := start(t, func(c *server.Config) {
		c.Dev, c.JWTSecret = false, ""
		c.JWTJWKSURL, c.JWTIssuer, c.JWTAudience = jwks.URL, "https://id.test", "presenced"
	})
	c, err := client.Dial(ctx5(t), h.base, client.Options{Token: sign("k1", k1, "alice")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Drop()
	publish("k2", k2)
	// Past the unknown-kid interval, whichever fetch loaded k1.
	h.advance(auth.JWKSMinInterval, 5*time.Second, c)
	if m, err := c.Request(ctx5(t), map[string]any{"type": protocol.TypeRefreshToken, "token": sign("k2", k2, "alice")}); err != nil || m.Type != protocol.TypeAck {
		t.Fatalf("refresh with the rotated-in key: %s %v", m.Raw, err)
	}
	c2, err := client.Dial(ctx5(t), h.base, client.Options{Header: http.Header{"Authorization": {"Bearer " + sign("k2", k2, "bob")}}})
	if err != nil {
		t.Fatal(err)
	}
	c2.Drop()
}
