package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/presenced/presenced/internal/fakeclock"
	"github.com/presenced/presenced/presence"
)

// keyServer is a provider's JWKS endpoint on loopback whose published keys
// the test changes, as a provider rotating its keys does.
type keyServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	down    bool
	fetches atomic.Int64
}

func newKeyServer(t *testing.T) *keyServer {
	ks := &keyServer{}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if ks.down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": ks.keys})
	}))
	t.Cleanup(ks.Close)
	return ks
}

// publish replaces the published keys.
func (ks *keyServer) publish(keys ...signer) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.keys = nil
	for _, k := range keys {
		ks.keys = append(ks.keys, k.jwk())
	}
}

func (ks *keyServer) setDown(down bool) {
	ks.mu.Lock()
	ks.down = down
	ks.mu.Unlock()
}

type signer struct {
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

func newSigner(t *testing.T, kid string, method jwt.SigningMethod) signer {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch method {
	case jwt.SigningMethodRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jwt.SigningMethodES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, method: method, priv: priv}
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (s signer) jwk() map[string]string {
	m := map[string]string{"kid": s.kid, "use": "sig", "alg": s.method.Alg()}
	switch pub := s.priv.Public().(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", enc(pub.N.Bytes()), enc(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		b, _ := pub.Bytes()
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", enc(b[1:33]), enc(b[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", enc(pub)
	}
	return m
}

func (s signer) sign(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, c)
	tok.Header["kid"] = s.kid
	out, err := tok.SignedString(s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func claimsFor(user string, exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{"sub": user, "exp": exp.Unix(), "iss": "https://id.example", "aud": []string{"presenced", "other"}}
}

func jwksVerifier(t *testing.T, ks *keyServer, clk *fakeclock.Clock, mutate func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{JWKSURL: ks.URL, Now: clk.Now, Issuer: "https://id.example", Audience: "presenced"}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestJWKSAlgorithms(t *testing.T) {
	clk := fakeclock.New(now)
	ks := newKeyServer(t)
	signers := []signer{
		newSigner(t, "r1", jwt.SigningMethodRS256),
		newSigner(t, "e1", jwt.SigningMethodES256),
		newSigner(t, "d1", jwt.SigningMethodEdDSA),
	}
	ks.publish(signers...)
	v := jwksVerifier(t, ks, clk, nil)
	for _, s := range signers {
		id, err := v.Verify(s.sign(t, claimsFor("alice", now.Add(time.Hour))))
		if err != nil || id.UserID != "alice" {
			t.Fatalf("%s: %+v %v", s.method.Alg(), id, err)
		}
	}
	// A key of one kind named by a token of another is refused, and so is
	// an HS256 token keyed by anything the set publishes.
	wrong := signers[1]
	wrong.kid = "r1"
	if _, err := v.Verify(wrong.sign(t, claimsFor("alice", now.Add(time.Hour)))); presence.ErrorCode(err) != presence.CodeUnauthorized {
		t.Fatalf("ES256 token naming the RSA key: %v", err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsFor("alice", now.Add(time.Hour)))
	hs.Header["kid"] = "r1"
	tok, _ := hs.SignedString([]byte("whatever-secret-value"))
	if _, err := v.Verify(tok); presence.ErrorCode(err) != presence.CodeUnauthorized {
		t.Fatalf("HS256 token: %v", err)
	}
}

func TestJWKSIssuerAndAudience(t *testing.T) {
	clk := fakeclock.New(now)
	ks := newKeyServer(t)
	s := newSigner(t, "k1", jwt.SigningMethodES256)
	ks.publish(s)
	v := jwksVerifier(t, ks, clk, nil)
	for name, c := range map[string]jwt.MapClaims{
		"wrong iss": {"sub": "alice", "exp": now.Add(time.Hour).Unix(), "iss": "https://evil.example", "aud": "presenced"},
		"no iss":    {"sub": "alice", "exp": now.Add(time.Hour).Unix(), "aud": "presenced"},
		"wrong aud": {"sub": "alice", "exp": now.Add(time.Hour).Unix(), "iss": "https://id.example", "aud": "billing"},
		"no aud":    {"sub": "alice", "exp": now.Add(time.Hour).Unix(), "iss": "https://id.example"},
	} {
		if _, err := v.Verify(s.sign(t, c)); presence.ErrorCode(err) != presence.CodeUnauthorized {
			t.Errorf("%s: err = %v, want unauthorized", name, err)
		}
	}
	if _, err := v.Verify(s.sign(t, jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(), "iss": "https://id.example", "aud": "presenced"})); err != nil {
		t.Fatalf("single-string aud: %v", err)
	}
}

func TestJWKSRotation(t *testing.T) {
	clk := fakeclock.New(now)
	ks := newKeyServer(t)
	old, next, third := newSigner(t, "2026-11", jwt.SigningMethodRS256), newSigner(t, "2026-12", jwt.SigningMethodRS256), newSigner(t, "2027-01", jwt.SigningMethodES256)
	ks.publish(old)
	v := jwksVerifier(t, ks, clk, nil)
	if _, err := v.Verify(old.sign(t, claimsFor("alice", now.Add(time.Hour)))); err != nil {
		t.Fatal(err)
	}
	// The provider rotates: a token naming the new kid makes the node
	// fetch the set once, and the old key goes with the set it left.
	ks.publish(next)
	before := ks.fetches.Load()
	if _, err := v.Verify(next.sign(t, claimsFor("alice", now.Add(time.Hour)))); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if got := ks.fetches.Load() - before; got != 1 {
		t.Fatalf("%d fetches for one unknown kid, want 1", got)
	}
	if _, err := v.Verify(old.sign(t, claimsFor("alice", now.Add(time.Hour)))); presence.ErrorCode(err) != presence.CodeUnauthorized {
		t.Fatalf("token of the rotated-out key: %v", err)
	}
	// Unknown kids within 30 s of the last fetch they caused cost nothing
	// (the rotated-out key's refusal above did not fetch either).
	ks.publish(next, third)
	before = ks.fetches.Load()
	for range 20 {
		if _, err := v.Verify(third.sign(t, claimsFor("alice", now.Add(time.Hour)))); presence.ErrorCode(err) != presence.CodeUnauthorized {
			t.Fatalf("unknown kid within the interval: %v", err)
		}
	}
	if got := ks.fetches.Load() - before; got != 0 {
		t.Fatalf("%d fetches within %s of the last, want 0", got, JWKSMinInterval)
	}
	clk.Advance(JWKSMinInterval)
	if _, err := v.Verify(third.sign(t, claimsFor("alice", now.Add(time.Hour)))); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
}

func TestJWKSEndpointDown(t *testing.T) {
	clk := fakeclock.New(now)
	ks := newKeyServer(t)
	s := newSigner(t, "k1", jwt.SigningMethodES256)
	ks.publish(s)
	ks.setDown(true)
	v := jwksVerifier(t, ks, clk, nil)
	// Never fetched: the caller is told to retry, not that its token is bad.
	if _, err := v.Verify(s.sign(t, claimsFor("alice", now.Add(time.Hour)))); presence.ErrorCode(err) != presence.CodeUnavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	ks.setDown(false)
	clk.Advance(JWKSMinInterval)
	if _, err := v.Verify(s.sign(t, claimsFor("alice", now.Add(time.Hour)))); err != nil {
		t.Fatalf("after the endpoint came back: %v", err)
	}
	// Down again: the keys already known keep working.
	ks.setDown(true)
	clk.Advance(JWKSMinInterval)
	unknown := newSigner(t, "k2", jwt.SigningMethodES256)
	if _, err := v.Verify(unknown.sign(t, claimsFor("alice", now.Add(time.Hour)))); presence.ErrorCode(err) != presence.CodeUnauthorized {
		t.Fatalf("unknown kid while down: %v", err)
	}
	if _, err := v.Verify(s.sign(t, claimsFor("alice", now.Add(time.Hour)))); err != nil {
		t.Fatalf("known key while the endpoint is down: %v", err)
	}
}

func TestJWKSScheduledRefresh(t *testing.T) {
	clk := fakeclock.New(now)
	ks := newKeyServer(t)
	old, next := newSigner(t, "a", jwt.SigningMethodES256), newSigner(t, "b", jwt.SigningMethodES256)
	ks.publish(old, next)
	v := jwksVerifier(t, ks, clk, func(c *Config) { c.JWKSRefresh = 10 * time.Millisecond })
	// Load the set through an unknown-kid fetch, which also arms the 30 s
	// limit: from here only the schedule can fetch.
	if _, err := v.Verify(old.sign(t, claimsFor("alice", now.Add(time.Hour)))); err != nil {
		t.Fatal(err)
	}
	ks.publish(next)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(old.sign(t, claimsFor("alice", now.Add(time.Hour))))
		if presence.ErrorCode(err) == presence.CodeUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduled refresh never dropped the rotated-out key")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParseJWKSRefusesBadKeys(t *testing.T) {
	for name, body := range map[string]string{
		"not json":   `{`,
		"no keys":    `{"keys":[]}`,
		"no kid":     `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		"enc only":   `{"keys":[{"kid":"a","use":"enc","kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		"short rsa":  `{"keys":[{"kid":"a","kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		"off curve":  `{"keys":[{"kid":"a","kty":"EC","crv":"P-256","x":"` + enc(make([]byte, 32)) + `","y":"` + enc(make([]byte, 32)) + `"}]}`,
		"p-384":      `{"keys":[{"kid":"a","kty":"EC","crv":"P-384","x":"AA","y":"AA"}]}`,
		"oct secret": `{"keys":[{"kid":"a","kty":"oct","k":"c2VjcmV0"}]}`,
	} {
		if _, err := parseJWKS([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNewRefusesTwoKeySources(t *testing.T) {
	if _, err := New(Config{Secret: "0123456789abcdef0123", JWKSURL: "https://id.example/jwks"}); err == nil {
		t.Error("accepted a secret and a JWKS URL")
	}
	if _, err := New(Config{JWKSURL: "file:///etc/keys"}); err == nil {
		t.Error("accepted a file: JWKS URL")
	}
}
