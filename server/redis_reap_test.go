package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/server"
)

// TestRedisReaperKeepsGoingWhileAMasterIsFrozen freezes one master of a
// cluster that does not require full coverage. The session of a node that
// died, whose record and deadline shard are on the other masters, is ended
// by the takeover of that node's lease meanwhile. A live session whose
// record is on the frozen master is not ended: not while the master is
// frozen, nor when it answers again, though every tick of its node waits
// on the frozen master (the lease is renewed on its own loop).
func TestRedisReaperKeepsGoingWhileAMasterIsFrozen(t *testing.T) {
	cl := partialCoverageCluster(t)
	owner := slotOwners(t, cl)
	const f = 0 // the master to freeze
	frozen := cl.Nodes[f]
	away := func(record, shard, channel int) bool { return record != f && shard != f && channel != f }
	bob, marker := pickUser(t, owner, "bob", away), pickUser(t, owner, "marker", away)
	alice := pickUser(t, owner, "alice", func(record, shard, channel int) bool {
		return record == f && shard != f && channel != f
	})

	short := func(cfg *server.Config) { cfg.HeartbeatInterval, cfg.HeartbeatTTL = time.Second, 3*time.Second }
	c := startNodes(t, 2, cl.URL(), short)
	a, b := c.nodes[0], c.nodes[1]
	dead := start(t, func(cfg *server.Config) { cfg.Clock, cfg.RedisURL = c.clock, cl.URL(); short(cfg) })
	dead.online(bob, "web")
	dead.srv.Hub().Close() // its timers stop: nothing refreshes bob any more
	bobEnds := c.clock.Now().Add(3*time.Second + 500*time.Millisecond)
	ac := b.online(alice, "web")
	mc := a.online(marker, "web")
	w, snap := a.watch("watcher", alice, bob, marker)
	for _, u := range []string{alice, bob, marker} {
		if snap[u].Status != presence.StatusOnline {
			t.Fatalf("%s = %+v before the freeze", u, snap[u])
		}
	}

	frozen.Pause()
	t.Cleanup(frozen.Resume)
	began := time.Now()
	// The nodes' own tickers run the reapers, each tick waiting out the
	// operation timeout on the frozen master.
	for range 2 {
		c.clock.Advance(2 * time.Second)
		a.keepAlive(ac, mc, w)
	}
	if !c.clock.Now().After(bobEnds) {
		t.Fatal("the clock did not pass bob's expiry")
	}
	if p := nextUpdate(t, w, 15*time.Second); p.UserID != bob || p.Status != presence.StatusOffline {
		t.Fatalf("watcher got %+v, want bob offline", p)
	}
	t.Logf("bob ended %s after the freeze", time.Since(began))

	frozen.Resume()
	if err := cl.WaitHealthy(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Past the reapers' hold, and past alice's lapsed deadline again.
	c.advance(6*time.Second, 250*time.Millisecond, ac, mc, w)
	a.settled(w, alice) // alice must stay online: no update of hers
	code, body := a.api("GET", "/v1/presence/"+alice, nil, "")
	var p presence.Presence
	mustJSON(t, body, &p)
	if code != http.StatusOK || p.Status != presence.StatusOnline {
		t.Fatalf("alice after the freeze: %d %s", code, body)
	}
}

// nextUpdate returns c's next presence_update, skipping the notices of the
// store's outage.
func nextUpdate(t *testing.T, c *client.Conn, within time.Duration) presence.Presence {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for a presence_update: %v", err)
		}
		if m.Type != "error" {
			return presenceUpdate(t, m)
		}
	}
}
