package gateway

import (
	"sync"

	"github.com/presenced/presenced/metrics"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/wsconn"
)

// DefaultMaxConnectionsPerUser is the default of Config.MaxConnectionsPerUser.
const DefaultMaxConnectionsPerUser = 100

// autoMaxConnections returns the node's connection bound when none is
// configured: nine tenths of the open-file limit, keeping the rest for the
// store, the listeners and HTTP requests. A connection refused with 429
// before the upgrade is better than accept failing with EMFILE, which
// stalls every client of the listener, HTTP ones included. 0 (no bound)
// when the limit is unknown.
func autoMaxConnections() int {
	return wsconn.OpenFileLimit() / 10 * 9
}

// admission counts a node's WebSocket connections, in total and per user,
// and refuses the one that would pass a bound. A connection holds its place
// from before the upgrade until its OnClose.
type admission struct {
	maxTotal, maxPerUser int // <= 0: no bound
	m                    *metrics.Metrics

	mu      sync.Mutex
	total   int
	perUser map[string]int
}

func newAdmission(maxTotal, maxPerUser int, m *metrics.Metrics) *admission {
	return &admission{maxTotal: maxTotal, maxPerUser: maxPerUser, m: m, perUser: make(map[string]int)}
}

// admit takes a place for a connection of user, or returns a rate_limited
// error (HTTP 429) naming the bound.
func (a *admission) admit(user string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxTotal > 0 && a.total >= a.maxTotal {
		a.m.Inc(a.m.Refused, "max_connections")
		return presence.Errorf(presence.CodeRateLimited, "this node has its maximum of %d connections; retry later or on another node", a.maxTotal)
	}
	if a.maxPerUser > 0 && a.perUser[user] >= a.maxPerUser {
		a.m.Inc(a.m.Refused, "max_connections_per_user")
		return presence.Errorf(presence.CodeRateLimited, "user %s already has %d connections on this node, the maximum", truncate(user, 64), a.maxPerUser)
	}
	a.total++
	a.perUser[user]++
	return nil
}

// release gives back the place of a connection of user.
func (a *admission) release(user string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if n := a.perUser[user] - 1; n > 0 {
		a.perUser[user] = n
	} else {
		delete(a.perUser, user)
	}
}
