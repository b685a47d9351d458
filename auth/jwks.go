package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/presenced/presenced/presence"
)

// JWKS limits and timings.
const (
	// MaxJWKSBytes bounds the key set's body; providers publish a few KB.
	MaxJWKSBytes = 1 << 20
	// MaxJWKSKeys bounds the keys kept from one set.
	MaxJWKSKeys = 100
	// JWKSMinInterval is the least time between two fetches caused by a
	// token naming an unknown kid, so that tokens with made-up kids cannot
	// make the node hammer the provider.
	JWKSMinInterval = 30 * time.Second
	// jwksRetry is how soon a failed scheduled fetch is tried again.
	jwksRetry = 10 * time.Second
)

// JWKSConfig configures a JWKS.
type JWKSConfig struct {
	URL string
	// Refresh is how often the set is fetched on a schedule. Zero means 5
	// minutes.
	Refresh time.Duration
	// HTTPClient fetches the set. Nil means a client with a 5s timeout.
	HTTPClient *http.Client
	// Now is the clock of the unknown-kid rate limit. Nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// JWKS is an identity provider's key set, cached by kid. It is fetched at
// start, every Refresh, and when a token names a kid the cache lacks (at most
// once per JWKSMinInterval), so keys rotate without a restart. A failed
// fetch keeps the keys already known. Until a first fetch succeeds every
// token is refused with CodeUnavailable; a background fetch is retried every
// 10 seconds meanwhile.
type JWKS struct {
	cfg    JWKSConfig
	client *http.Client
	log    *slog.Logger

	mu        sync.RWMutex
	keys      map[string]jwk
	loaded    bool
	fetchMu   sync.Mutex // one fetch at a time
	lastFetch time.Time  // last fetch started by an unknown kid

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type jwk struct {
	key crypto.PublicKey
	alg string // "" when the set does not say
}

// NewJWKS starts fetching the set at cfg.URL; it does not wait for the
// first fetch.
func NewJWKS(cfg JWKSConfig) (*JWKS, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("--jwt-jwks-url must be an http(s) URL, not %q", cfg.URL)
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = 5 * time.Minute
	}
	if cfg.Refresh < 0 {
		return nil, fmt.Errorf("--jwt-jwks-refresh must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	j := &JWKS{cfg: cfg, client: cfg.HTTPClient, log: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	if j.client == nil {
		j.client = &http.Client{Timeout: 5 * time.Second}
	}
	if j.log == nil {
		j.log = slog.Default()
	}
	go j.run()
	return j, nil
}

// Close stops the scheduled fetches and waits for the fetcher to end.
func (j *JWKS) Close() {
	j.once.Do(func() { close(j.stop) })
	<-j.done
}

// Loaded reports whether a fetch has succeeded.
func (j *JWKS) Loaded() bool {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.loaded
}

func (j *JWKS) run() {
	defer close(j.done)
	for {
		wait := j.cfg.Refresh
		if err := j.fetch(); err != nil {
			j.log.Warn("fetching the JWKS failed; keeping the keys already known", "url", j.cfg.URL, "err", err)
			wait = min(wait, jwksRetry)
		}
		t := time.NewTimer(wait)
		select {
		case <-j.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Key returns the key named kid for a token signed with alg. An unknown
// kid causes a fetch unless one was caused less than JWKSMinInterval ago.
func (j *JWKS) Key(kid, alg string) (crypto.PublicKey, error) {
	if k, ok := j.lookup(kid); ok {
		return k.check(kid, alg)
	}
	j.fetchMu.Lock()
	if _, ok := j.lookup(kid); !ok {
		if now := j.cfg.Now(); j.lastFetch.IsZero() || now.Sub(j.lastFetch) >= JWKSMinInterval {
			j.lastFetch = now
			if err := j.fetchLocked(); err != nil {
				j.log.Warn("fetching the JWKS for an unknown kid failed", "url", j.cfg.URL, "err", err)
			}
		}
	}
	j.fetchMu.Unlock()
	if k, ok := j.lookup(kid); ok {
		return k.check(kid, alg)
	}
	if !j.Loaded() {
		return nil, presence.Errorf(presence.CodeUnavailable, "signing keys not available yet; retry later")
	}
	return nil, presence.Errorf(presence.CodeUnauthorized, "token names an unknown signing key")
}

func (j *JWKS) lookup(kid string) (jwk, bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	k, ok := j.keys[kid]
	return k, ok
}

func (k jwk) check(kid, alg string) (crypto.PublicKey, error) {
	if k.alg != "" && k.alg != alg {
		return nil, presence.Errorf(presence.CodeUnauthorized, "token algorithm does not match its key")
	}
	return k.key, nil
}

func (j *JWKS) fetch() error {
	j.fetchMu.Lock()
	defer j.fetchMu.Unlock()
	return j.fetchLocked()
}

func (j *JWKS) fetchLocked() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-j.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.cfg.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return err
	}
	if len(body) > MaxJWKSBytes {
		return fmt.Errorf("key set larger than %d bytes", MaxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.keys, j.loaded = keys, true
	j.mu.Unlock()
	return nil
}

// parseJWKS decodes a JSON Web Key Set into its usable signing keys by kid:
// RSA, EC P-256 and Ed25519 keys that have a kid and are not marked for
// encryption. Other keys are skipped; a set with none usable is an error.
func parseJWKS(data []byte) (map[string]jwk, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("key set is not JSON: %w", err)
	}
	keys := make(map[string]jwk)
	var skipped error
	for _, raw := range set.Keys {
		if len(keys) == MaxJWKSKeys {
			break
		}
		var k jwkFields
		if json.Unmarshal(raw, &k) != nil || k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		key, err := k.publicKey()
		if err != nil {
			skipped = fmt.Errorf("key %q: %w", k.Kid, err)
			continue
		}
		keys[k.Kid] = jwk{key: key, alg: k.Alg}
	}
	if len(keys) == 0 {
		if skipped != nil {
			return nil, skipped
		}
		return nil, errors.New("key set has no usable signing key")
	}
	return keys, nil
}

// jwkFields are the members of one JWK that presenced reads.
type jwkFields struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (k *jwkFields) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		nb, err1 := b64(k.N)
		eb, err2 := b64(k.E)
		if err := errors.Join(err1, err2); err != nil || len(eb) == 0 || len(eb) > 4 {
			return nil, errors.New("bad RSA n or e")
		}
		mod := new(big.Int).SetBytes(nb)
		if mod.BitLen() < 2048 {
			return nil, errors.New("RSA key shorter than 2048 bits")
		}
		exp := int(new(big.Int).SetBytes(eb).Int64())
		if exp < 3 || exp%2 == 0 {
			return nil, errors.New("bad RSA exponent")
		}
		return &rsa.PublicKey{N: mod, E: exp}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		xb, err1 := b64(k.X)
		yb, err2 := b64(k.Y)
		if errors.Join(err1, err2) != nil || len(xb) != 32 || len(yb) != 32 {
			return nil, errors.New("bad EC x or y")
		}
		raw := append(append([]byte{4}, xb...), yb...)
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			return nil, errors.New("EC point not on P-256")
		}
		return key, nil
	case "OKP":
		xb, err := b64(k.X)
		if k.Crv != "Ed25519" || err != nil || len(xb) != ed25519.PublicKeySize {
			return nil, errors.New("bad OKP key (only Ed25519)")
		}
		return ed25519.PublicKey(xb), nil
	}
	return nil, fmt.Errorf("unsupported kty %q", k.Kty)
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
