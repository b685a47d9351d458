// Package auth turns the credentials of a request into a user identity:
// a JWT (HS256 with a shared secret, RS256/ES256/EdDSA with a public key or
// with the keys an identity provider publishes as a JWKS) or, in
// development mode only, a bare user id.
package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/presenced/presenced/presence"
)

// Leeway is the clock skew tolerated on a token's exp and nbf. The same
// margin decides both whether a token is accepted and when a connection
// opened with it is closed (Identity.Expires), so a token the upgrade
// accepts never ends its connection at once.
const Leeway = 5 * time.Second

// Identity is who a token says the caller is.
type Identity struct {
	UserID string
	// Rooms lists the room patterns the token allows joining (claim "rooms").
	Rooms []string
	// Expires is when the token stops being accepted: its exp plus Leeway
	// (zero: never, dev mode).
	Expires time.Time
}

// Config says which tokens a Verifier accepts. Exactly one of Secret,
// PublicKeyFile and JWKSURL must be set.
type Config struct {
	// Secret verifies HS256 tokens; at least 16 bytes.
	Secret string
	// PublicKeyFile is a PEM public key (or certificate) verifying RS256,
	// ES256 or EdDSA tokens.
	PublicKeyFile string
	// JWKSURL is an identity provider's JSON Web Key Set; tokens name their
	// key by kid. See JWKS for how the set is fetched and refreshed.
	JWKSURL string
	// JWKSRefresh is how often the set is fetched again on a schedule.
	// Zero means 5 minutes.
	JWKSRefresh time.Duration
	// HTTPClient fetches the JWKS. Nil means a client with a 5s timeout.
	HTTPClient *http.Client
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must be one of the token's aud.
	Audience string
	// Now is the clock tokens are judged by. Nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Verifier checks tokens. The zero Verifier accepts nothing. It is safe for
// concurrent use.
type Verifier struct {
	secret  []byte
	key     crypto.PublicKey
	jwks    *JWKS
	methods []string
	opts    []jwt.ParserOption
	now     func() time.Time
}

// ErrNoKey is returned by New when no key is configured.
var ErrNoKey = errors.New("no JWT key configured")

// publicKeyMethods are the asymmetric algorithms accepted; HS256 is never
// accepted with a public key, so a public key cannot be used as an HMAC
// secret (algorithm confusion).
var publicKeyMethods = []string{"RS256", "ES256", "EdDSA"}

// NewVerifier returns a verifier for HS256 tokens signed with secret, or for
// RS256/ES256/EdDSA tokens verified with the PEM public key in keyFile. now
// may be nil (the system clock).
func NewVerifier(secret string, keyFile string, now func() time.Time) (*Verifier, error) {
	return New(Config{Secret: secret, PublicKeyFile: keyFile, Now: now})
}

// New returns a verifier for cfg. With a JWKSURL it starts fetching the set
// in the background and never fails for the endpoint being down; call Close
// to stop the refreshes.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{now: cfg.Now}
	if v.now == nil {
		v.now = time.Now
	}
	set := 0
	for _, s := range []string{cfg.Secret, cfg.PublicKeyFile, cfg.JWKSURL} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return nil, fmt.Errorf("set only one of --jwt-secret, --jwt-public-key and --jwt-jwks-url")
	}
	switch {
	case cfg.Secret != "":
		if len(cfg.Secret) < 16 {
			return nil, fmt.Errorf("--jwt-secret must be at least 16 bytes")
		}
		v.secret = []byte(cfg.Secret)
		v.methods = []string{"HS256"}
	case cfg.PublicKeyFile != "":
		key, err := loadPublicKey(cfg.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		v.key = key
		v.methods = publicKeyMethods
	case cfg.JWKSURL != "":
		j, err := NewJWKS(JWKSConfig{URL: cfg.JWKSURL, Refresh: cfg.JWKSRefresh, HTTPClient: cfg.HTTPClient, Now: v.now, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		v.jwks = j
		v.methods = publicKeyMethods
	default:
		return nil, ErrNoKey
	}
	v.opts = []jwt.ParserOption{jwt.WithValidMethods(v.methods), jwt.WithExpirationRequired(), jwt.WithTimeFunc(v.now), jwt.WithLeeway(Leeway)}
	if cfg.Issuer != "" {
		v.opts = append(v.opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		v.opts = append(v.opts, jwt.WithAudience(cfg.Audience))
	}
	return v, nil
}

// Close stops the JWKS refreshes, if any.
func (v *Verifier) Close() {
	if v != nil && v.jwks != nil {
		v.jwks.Close()
	}
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
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return key, nil
	}
	return nil, fmt.Errorf("--jwt-public-key %s: only RSA, ECDSA and Ed25519 keys are supported", path)
}

type claims struct {
	jwt.RegisteredClaims
	Rooms []string `json:"rooms,omitempty"`
}

// Verify checks token and returns its identity. sub is the user id and exp
// is required. A bad token is CodeUnauthorized; a token whose key cannot be
// known because the JWKS has never been fetched is CodeUnavailable, so the
// client retries instead of asking for a new token.
func (v *Verifier) Verify(token string) (Identity, error) {
	if v == nil || v.methods == nil {
		return Identity{}, presence.Errorf(presence.CodeUnauthorized, "token authentication is not configured")
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, v.keyFor, v.opts...)
	if err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			return Identity{}, ke.err
		}
		msg := "invalid token"
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			msg = "token expired"
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			msg = "token not valid yet"
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			msg = "token must carry exp"
		case errors.Is(err, jwt.ErrTokenInvalidIssuer):
			msg = "token issuer not accepted"
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			msg = "token audience not accepted"
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
	return Identity{UserID: c.Subject, Rooms: c.Rooms, Expires: c.ExpiresAt.Add(Leeway)}, nil
}

// keyError carries a key lookup's presence error through the jwt parser.
type keyError struct{ err error }

func (e *keyError) Error() string { return e.err.Error() }

func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	switch {
	case v.secret != nil:
		return v.secret, nil
	case v.key != nil:
		return v.key, nil
	}
	kid, _ := t.Header["kid"].(string)
	key, err := v.jwks.Key(kid, t.Method.Alg())
	if err != nil {
		return nil, &keyError{err}
	}
	return key, nil
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
