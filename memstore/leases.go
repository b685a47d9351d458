package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/presenced/presenced/presence"
)

// Leases keeps node leases and the index of each node's users in process
// memory: hub.Leases for the stores whose nodes all run in one process
// (several hubs on one Store in tests, or one hub on the embedded store).
// The zero value is ready; it is safe for concurrent use.
type Leases struct {
	mu    sync.Mutex
	held  map[string]*lease
	ended map[string]bool
	users map[string]map[string]struct{} // node → users with a session of it
}

type lease struct {
	until, renewed time.Time
	claimed        bool // handed to a claimer, until `until`
}

func (l *Leases) init() {
	if l.held == nil {
		l.held, l.ended, l.users = map[string]*lease{}, map[string]bool{}, map[string]map[string]struct{}{}
	}
}

// RenewLease implements hub.Leases.
func (l *Leases) RenewLease(_ context.Context, node string, now, until time.Time) (presence.LeaseState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	ls := l.held[node]
	switch {
	case l.ended[node] || (ls != nil && ls.claimed):
		return presence.LeaseLapsed, nil
	case ls == nil:
		l.held[node] = &lease{until: until, renewed: now}
		return presence.LeaseNew, nil
	}
	ls.until, ls.renewed = until, now
	return presence.LeaseHeld, nil
}

// ClaimLapsed implements hub.Leases.
func (l *Leases) ClaimLapsed(_ context.Context, now time.Time, claimFor time.Duration, max int) ([]presence.Lapsed, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	var out []presence.Lapsed
	for node, ls := range l.held {
		if len(out) >= max {
			break
		}
		if ls.until.After(now) {
			continue
		}
		ls.claimed, ls.until = true, now.Add(claimFor)
		out = append(out, presence.Lapsed{Node: node, Renewed: ls.renewed})
	}
	return out, nil
}

// NodeUsers implements hub.Leases.
func (l *Leases) NodeUsers(_ context.Context, node string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.users[node]))
	for id := range l.users[node] {
		out = append(out, id)
	}
	return out, nil
}

// EndLease implements hub.Leases.
func (l *Leases) EndLease(_ context.Context, node string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	delete(l.held, node)
	delete(l.users, node)
	l.ended[node] = true
	return nil
}

// Index records which nodes hold sessions of userID after a write that
// turned before into after. Stores call it from Update.
func (l *Leases) Index(userID string, before, after *presence.UserState) {
	if !nodesDiffer(before, after) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	for _, ss := range before.Sessions {
		if after.Node(ss.Node) == nil {
			delete(l.users[ss.Node], userID)
		}
	}
	for _, ss := range after.Sessions {
		set := l.users[ss.Node]
		if set == nil {
			set = map[string]struct{}{}
			l.users[ss.Node] = set
		}
		set[userID] = struct{}{}
	}
}

// nodesDiffer reports whether the sessions of before and after name
// different nodes: most writes change neither.
func nodesDiffer(before, after *presence.UserState) bool {
	if len(before.Sessions) != len(after.Sessions) {
		return true
	}
	for i := range after.Sessions {
		if before.Sessions[i].Node != after.Sessions[i].Node {
			return true
		}
	}
	return false
}
