package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/internal/redistest"
	"github.com/presenced/presenced/presence"
)

// TestRedisFrozenForTenSeconds freezes the only Redis (SIGSTOP) for ten
// seconds of real time under two nodes with clients: requests answer
// "unavailable" within the operation timeout instead of hanging, the nodes
// say they are not ready, and when Redis resumes they recover by
// themselves. Nobody online throughout is seen leaving: the watcher's next
// update of alice after the freeze is the status she sets then, and an
// offline published before it on her topic would have come first.
func TestRedisFrozenForTenSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("freezes Redis for ten seconds")
	}
	srv := redistest.Start(t)
	c := startNodes(t, 2, srv.URL())
	a, b := c.nodes[0], c.nodes[1]
	w, snap := a.watch("watcher", "alice")
	if snap["alice"].Status != presence.StatusOffline {
		t.Fatalf("alice before = %+v", snap["alice"])
	}
	alice := b.online("alice", "web")
	a.expectStatus(w, "alice", presence.StatusOnline)

	srv.Pause()
	t.Cleanup(srv.Resume)
	frozenAt := time.Now()
	asked := time.Now()
	if err := alice.SetStatus(ctx5(t), map[string]any{"status": "away"}); presence.ErrorCode(err) != presence.CodeUnavailable {
		t.Fatalf("set_status with Redis frozen: %v, want unavailable", err)
	}
	if took := time.Since(asked); took > 4*time.Second {
		t.Errorf("set_status with Redis frozen took %s to answer", took)
	}
	poll.Until(t, "/readyz to fail", func() bool {
		code, _ := b.api("GET", "/readyz", nil, "-")
		return code == http.StatusServiceUnavailable
	})
	// The freeze lasts ten seconds; the nodes' timers run meanwhile, a
	// few seconds of their time, and the clients stay.
	for time.Since(frozenAt) < 10*time.Second {
		c.advance(time.Second, 500*time.Millisecond)
		time.Sleep(500 * time.Millisecond)
	}
	srv.Resume()
	for _, n := range c.nodes {
		poll.Until(t, "/readyz to recover", func() bool { code, _ := n.api("GET", "/readyz", nil, "-"); return code == http.StatusOK })
	}
	c.advance(5*time.Second, 500*time.Millisecond, alice)
	if err := alice.SetStatus(ctx5(t), map[string]any{"status": "busy"}); err != nil {
		t.Fatalf("set_status after the freeze: %v", err)
	}
	for {
		p := nextUpdate(t, w, 10*time.Second)
		if p.UserID != "alice" {
			continue
		}
		if p.Status == presence.StatusOffline {
			t.Fatalf("the watcher saw alice offline across the freeze: %+v", p)
		}
		if p.Status == presence.StatusBusy {
			break
		}
	}
}
