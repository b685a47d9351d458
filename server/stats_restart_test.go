package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/server"
)

// TestStatsCountTheSessionsARestartKeeps restarts a node on its data file:
// the sessions of the previous run wait out their grace, and the stats
// count them until it ends.
func TestStatsCountTheSessionsARestartKeeps(t *testing.T) {
	dir := t.TempDir()
	onDir := func(c *server.Config) { c.DataDir = dir }
	h := start(t, onDir)
	h.online("alice", "web")
	h.online("bob", "web")
	checkStats(t, h, `{"online_users":2,"sessions":2,"connections":2,"rooms":0,"node_connections":2}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	again := start(t, onDir)
	checkStats(t, again, `{"online_users":2,"sessions":2,"connections":0,"rooms":0,"node_connections":0}`)
	again.advance(10*time.Second, 500*time.Millisecond)
	checkStats(t, again, `{"online_users":0,"sessions":0,"connections":0,"rooms":0,"node_connections":0}`)
}
