package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// FuzzVerify feeds the token parser arbitrary tokens. It must never panic,
// every refusal must be unauthorized, and a token it accepts must name a
// valid user and expire after now (within the leeway).
func FuzzVerify(f *testing.F) {
	secret := "0123456789abcdef0123"
	v, err := NewVerifier(secret, "", clock)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := SignExpiring(secret, "alice", now.Add(time.Hour), []string{"doc:*"})
	f.Add(good)
	f.Add(good[:strings.LastIndexByte(good, '.')] + ".")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(token)
		if err != nil {
			if presence.ErrorCode(err) != presence.CodeUnauthorized {
				t.Fatalf("refusal with code %s: %v", presence.ErrorCode(err), err)
			}
			return
		}
		if presence.ValidateUserID(id.UserID) != nil || !id.Expires.After(now) {
			t.Fatalf("accepted %q as %+v", token, id)
		}
	})
}

// FuzzParseJWKS feeds the key-set parser arbitrary documents: it must never
// panic, and every key it returns must be usable.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kid":"a","kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kid":"e","kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`))
	f.Add([]byte(`{"keys":[{"kid":"r","kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseJWKS(data)
		if err != nil {
			return
		}
		if len(keys) == 0 || len(keys) > MaxJWKSKeys {
			t.Fatalf("%d keys", len(keys))
		}
		for kid, k := range keys {
			if kid == "" || k.key == nil {
				t.Fatalf("key %q: %+v", kid, k)
			}
		}
	})
}
