package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/presenced/presenced/presence"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func writeKey(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func token(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPublicKeyTokens(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	good := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(), "rooms": []string{"doc:*"}}
	for name, tc := range map[string]struct {
		method jwt.SigningMethod
		priv   any
		pub    crypto.PublicKey
	}{
		"ES256": {jwt.SigningMethodES256, ec, &ec.PublicKey},
		"RS256": {jwt.SigningMethodRS256, rs, &rs.PublicKey},
	} {
		v, err := NewVerifier("", writeKey(t, tc.pub), clock)
		if err != nil {
			t.Fatal(err)
		}
		id, err := v.Verify(token(t, tc.method, tc.priv, good))
		if err != nil || id.UserID != "alice" || len(id.Rooms) != 1 || !id.Expires.Equal(now.Add(time.Hour+Leeway)) {
			t.Fatalf("%s: %+v %v", name, id, err)
		}
		// An HS256 token signed with the public key's bytes must not pass
		// (algorithm confusion).
		if _, err := v.Verify(token(t, jwt.SigningMethodHS256, []byte("whatever-secret-value"), good)); err == nil {
			t.Fatalf("%s verifier accepted an HS256 token", name)
		}
	}
}

func TestTokenRules(t *testing.T) {
	secret := "0123456789abcdef0123"
	v, err := NewVerifier(secret, "", clock)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"no exp":    token(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "alice"}),
		"expired":   token(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "alice", "exp": now.Add(-time.Minute).Unix()}),
		"no sub":    token(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}),
		"wrong key": token(t, jwt.SigningMethodHS256, []byte("another-secret-value"), jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}),
		"garbage":   "a.b.c",
	}
	for name, tok := range bad {
		if _, err := v.Verify(tok); presence.ErrorCode(err) != presence.CodeUnauthorized {
			t.Errorf("%s: err = %v, want unauthorized", name, err)
		}
	}
	if _, err := NewVerifier("short", "", clock); err == nil {
		t.Error("accepted a 5-byte secret")
	}
	if _, err := NewVerifier(secret, "/some/file", clock); err == nil {
		t.Error("accepted both a secret and a key file")
	}
	if _, err := NewVerifier("", filepath.Join(t.TempDir(), "missing.pem"), clock); err == nil {
		t.Error("accepted a missing key file")
	}
}
