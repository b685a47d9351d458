// Package auth turns the credentials of a request into a user identity:
// a JWT (HS256 with a shared secret, or RS256/ES256 with a public key) or, in
// development mode only, a bare user id.
package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/presenced/presenced/presence"
)

// Identity is who a token says the caller is.
type Identity struct {
	UserID string
	// Rooms lists the room patterns the token allows joining (claim "rooms").
	Rooms []string
	// Expires is when the token stops being valid (zero: never, dev mode).
	Expires time.Time
}

// Verifier checks tokens. The zero Verifier accepts nothing.
type Verifier struct {
	secret []byte
	key    crypto.PublicKey
	now    func() time.Time
}

// ErrNoKey is returned by NewVerifier when no key is configured.
var ErrNoKey = errors.New("no JWT key configured")

// NewVerifier returns a verifier for HS256 tokens signed with secret, or for
// RS256/ES256 tokens verified with the PEM public key in keyFile. now may be
// nil (the system clock).
func NewVerifier(secret string, keyFile string, now func() time.Time) (*Verifier, error) {
	v := &Verifier{now: now}
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case secret != "" && keyFile != "":
		return nil, fmt.Errorf("set either --jwt-secret or --jwt-public-key, not both")
	case secret != "":
		if len(secret) < 16 {
			return nil, fmt.Errorf("--jwt-secret must be at least 16 bytes")
		}
		v.secret = []byte(secret)
	case keyFile != "":
		key, err := loadPublicKey(keyFile)
		if err != nil {
			return nil, err
		}
		v.key = key
	default:
		return nil, ErrNoKey
	}
	return v, nil
}

func loadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --jwt-public-key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("--jwt-public-key %s: no PEM block found", path)
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("--jwt-public-key %s: unsupported PEM block %q", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("--jwt-public-key %s: %w", path, err)
	}
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return key, nil
	}
	return nil, fmt.Errorf("--jwt-public-key %s: only RSA and ECDSA keys are supported", path)
}

type claims struct {
	jwt.RegisteredClaims
	Rooms []string `json:"rooms,omitempty"`
}

// Verify checks token and returns its identity. sub is the user id and exp
// is required.
func (v *Verifier) Verify(token string) (Identity, error) {
	if v == nil || (v.secret == nil && v.key == nil) {
		return Identity{}, presence.Errorf(presence.CodeUnauthorized, "token authentication is not configured")
	}
	var c claims
	methods := []string{"HS256"}
	if v.key != nil {
		methods = []string{"RS256", "ES256"}
	}
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if v.key != nil {
			return v.key, nil
		}
		return v.secret, nil
	}, jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithTimeFunc(v.now), jwt.WithLeeway(5*time.Second))
	if err != nil {
		msg := "invalid token"
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			msg = "token expired"
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			msg = "token must carry exp"
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			msg = "token signature invalid"
		case errors.Is(err, jwt.ErrTokenMalformed):
			msg = "token malformed"
		}
		return Identity{}, presence.Errorf(presence.CodeUnauthorized, "%s", msg)
	}
	if err := presence.ValidateUserID(c.Subject); err != nil {
		return Identity{}, presence.Errorf(presence.CodeUnauthorized, "token sub is not a valid user id")
	}
	return Identity{UserID: c.Subject, Rooms: c.Rooms, Expires: c.ExpiresAt.Time}, nil
}

// Sign makes an HS256 token for userID valid for ttl: for tests, the load
// tool and development.
func Sign(secret, userID string, ttl time.Duration, rooms []string) (string, error) {
	return SignExpiring(secret, userID, time.Now().Add(ttl), rooms)
}

// SignExpiring makes an HS256 token for userID that expires at exp.
func SignExpiring(secret, userID string, exp time.Time, rooms []string) (string, error) {
	c := claims{RegisteredClaims: jwt.RegisteredClaims{Subject: userID, ExpiresAt: jwt.NewNumericDate(exp)}, Rooms: rooms}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
}
