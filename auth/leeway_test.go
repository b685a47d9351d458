package auth

import (
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// A token the verifier still accepts within its leeway must carry an
// expiry the connection has not reached yet.
func TestLeewayIsTheConnectionsToo(t *testing.T) {
	secret := "0123456789abcdef0123"
	v, err := NewVerifier(secret, "", clock)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := SignExpiring(secret, "alice", now.Add(-Leeway/2), nil)
	id, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("token expired by half the leeway: %v", err)
	}
	if !id.Expires.After(now) || !id.Expires.Equal(now.Add(-Leeway/2).Truncate(time.Second).Add(Leeway)) {
		t.Fatalf("Expires = %s, want exp + leeway, after now %s", id.Expires, now)
	}
	tok, _ = SignExpiring(secret, "alice", now.Add(-Leeway-time.Second), nil)
	if _, err := v.Verify(tok); presence.ErrorCode(err) != presence.CodeUnauthorized {
		t.Fatalf("token expired beyond the leeway: %v", err)
	}
}
