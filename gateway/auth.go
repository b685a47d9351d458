package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/presence"
)

// identify returns who an upgrade request is: a token in the Authorization
// header (non-browser clients, which can set headers and keep tokens out of
// URLs and access logs) or in ?token= (browsers, which cannot), or in dev
// mode a bare ?user_id=.
func (g *Gateway) identify(r *http.Request) (auth.Identity, error) {
	q := r.URL.Query()
	header := r.Header.Get("Authorization")
	if header != "" {
		tok, ok := strings.CutPrefix(header, "Bearer ")
		if !ok || tok == "" {
			return auth.Identity{}, presence.Errorf(presence.CodeUnauthorized, "Authorization must be \"Bearer <token>\"")
		}
		if q.Has("token") {
			return auth.Identity{}, presence.Errorf(presence.CodeUnauthorized, "send the token in Authorization or in ?token=, not both")
		}
		return g.cfg.Verifier.Verify(tok)
	}
	if tok := q.Get("token"); tok != "" {
		return g.cfg.Verifier.Verify(tok)
	}
	if g.cfg.Dev {
		if uid := q.Get("user_id"); uid != "" {
			if err := presence.ValidateUserID(uid); err != nil {
				return auth.Identity{}, presence.Errorf(presence.CodeUnauthorized, "user_id: %s", presence.ErrorMessage(err))
			}
			return auth.Identity{UserID: uid}, nil
		}
		return auth.Identity{}, presence.Errorf(presence.CodeUnauthorized, "missing ?token= or ?user_id= (dev mode)")
	}
	return auth.Identity{}, presence.Errorf(presence.CodeUnauthorized, "missing ?token= or Authorization: Bearer")
}

// identifyStatus is the HTTP status of a refused credential: 503 when the
// signing keys are not available yet (retry), else 401.
func identifyStatus(err error) int {
	if presence.ErrorCode(err) == presence.CodeUnavailable {
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

// refreshToken moves the connection's expiry to that of a fresh token of
// the same user; the token's rooms claim replaces the rooms the connection
// may join from now on (rooms already joined are kept). A refused token
// leaves the connection as it was, to end at its current expiry. With a
// JWKS, a token naming a key the node does not know makes Verify fetch the
// set, at most once per 30 s and for at most its 5 s timeout: the one wait
// this handler may have.
func (c *conn) refreshToken(token string) error {
	if token == "" {
		return presence.Errorf(presence.CodeInvalidArgument, "refresh_token needs \"token\"")
	}
	id, err := c.g.cfg.Verifier.Verify(token)
	if err != nil {
		return err
	}
	if id.UserID != c.client.UserID {
		return presence.Errorf(presence.CodeInvalidArgument, "the token is for another user than this connection's")
	}
	c.g.hub.SetCredentialExpiry(c.client, id.Expires)
	c.client.AllowRooms(roomPatterns(id, c.g.cfg.Dev))
	return nil
}

// originChecker returns the rule for browsers' Origin headers (see
// Config.AllowedOrigins).
func originChecker(allowed []string, dev bool) (func(*http.Request) bool, error) {
	if len(allowed) == 0 {
		if dev {
			return func(r *http.Request) bool { return localOrigin(r.Header.Get("Origin")) }, nil
		}
		return func(*http.Request) bool { return true }, nil
	}
	exact := make(map[string]bool)
	var suffixes []string // "https://.example.com" for "https://*.example.com"
	for _, o := range allowed {
		o = strings.ToLower(strings.TrimSpace(o))
		switch {
		case o == "*":
			return func(*http.Request) bool { return true }, nil
		case o == "":
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("--allowed-origins: %q is not an origin like https://app.example.com", o)
		}
		if rest, ok := strings.CutPrefix(u.Host, "*."); ok {
			suffixes = append(suffixes, u.Scheme+"://."+rest)
			continue
		}
		exact[u.Scheme+"://"+u.Host] = true
	}
	return func(r *http.Request) bool {
		o := strings.ToLower(r.Header.Get("Origin"))
		if exact[o] {
			return true
		}
		for _, s := range suffixes {
			scheme, domain, _ := strings.Cut(s, "://")
			host, ok := strings.CutPrefix(o, scheme+"://")
			if ok && strings.HasSuffix(host, domain) && len(host) > len(domain) && !strings.ContainsAny(host, "/@") {
				return true
			}
		}
		return false
	}, nil
}

// localOrigin reports whether origin is an http(s) page served from this
// machine's loopback names, on any port.
func localOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}
