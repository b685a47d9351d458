package multinode_test

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// TestRedisMasterFailover kills the Redis master holding a user's record;
// its replica takes over and presenced carries on without a restart. Then
// the old master comes back as a replica. Logged: how long writes failed
// and the nodes were not ready. Expected: no live user is ever seen
// offline, and updates, subscriptions and writes work afterwards.
func TestRedisMasterFailover(t *testing.T) {
	cluster := sharedCluster(t)
	url := cluster.URL()
	a, b, c := startNode(t, "A", url), startNode(t, "B", url), startNode(t, "C", url)
	nodes := []*node{a, b, c}
	var users []string
	for i := range 12 {
		users = append(users, "fo"+strconv.Itoa(i))
	}
	watched := append([]string{"writer", "late"}, users...)
	obs := observe(t, a, "watcher", watched)
	for i, id := range users {
		online(t, []*node{b, c}[i%2], id, "web")
	}
	writer := online(t, a, "writer", "web")
	waitFor(t, "everyone online at the watcher", 10*time.Second, func() bool {
		_, other := obs.snapshot()
		seen := map[string]bool{}
		for _, p := range other {
			seen[p.UserID] = true
		}
		return len(seen) == len(users)+1
	})

	master, err := cluster.MasterOf("pd:{u:writer}") // the writer's own record fails over
	if err != nil {
		t.Fatal(err)
	}
	// A writer keeps changing its custom status through the fault.
	var writes, failures atomic.Int64
	var mu sync.Mutex
	var firstFail, lastFail time.Time
	var lastOK string // the last custom status acknowledged
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			writes.Add(1)
			if err := writer.SetStatus(ctxFor(t, 5*time.Second), map[string]any{"custom_status": "n" + strconv.Itoa(i)}); err == nil {
				mu.Lock()
				lastOK = "n" + strconv.Itoa(i)
				mu.Unlock()
			} else {
				failures.Add(1)
				mu.Lock()
				if firstFail.IsZero() {
					firstFail = time.Now()
				}
				lastFail = time.Now()
				mu.Unlock()
			}
		}
	}()
	notReady := make([]time.Duration, len(nodes))
	var readyWG sync.WaitGroup
	for i, n := range nodes {
		readyWG.Add(1)
		go func() {
			defer readyWG.Done()
			var down time.Time
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				switch ok := n.ready(); {
				case !ok && down.IsZero():
					down = time.Now()
				case ok && !down.IsZero():
					notReady[i] += time.Since(down)
					down = time.Time{}
				}
			}
		}()
	}

	killed := time.Now()
	master.Kill()
	if err := cluster.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	promoted := time.Since(killed)
	waitFor(t, "every node ready", 20*time.Second, func() bool { return a.ready() && b.ready() && c.ready() })
	waitFor(t, "writes to succeed again", 20*time.Second, func() bool {
		return writer.SetStatus(ctxFor(t, 5*time.Second), map[string]any{"custom_status": "after"}) == nil
	})
	recovered := time.Since(killed)

	// Service as usual: a new session on B reaches the watcher on A.
	online(t, b, "late", "web")
	waitFor(t, "the late user at the watcher", 10*time.Second, func() bool {
		_, other := obs.snapshot()
		for _, p := range other {
			if p.UserID == "late" {
				return true
			}
		}
		return false
	})

	// The old master returns as a replica; nothing changes for clients.
	if err := master.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl + grace) // let any wrong expiry show
	close(stop)
	wg.Wait()
	readyWG.Wait()

	ps, err := writer.GetPresence(ctxFor(t, 5*time.Second), "writer")
	mu.Lock()
	if err != nil || ps["writer"].CustomStatus != lastOK {
		t.Errorf("writer's status after the failover: %q (%v), last acknowledged %q", ps["writer"].CustomStatus, err, lastOK)
	}
	mu.Unlock()
	off, _ := obs.snapshot()
	for id, at := range off {
		t.Errorf("%s was seen offline %s after the kill, though connected throughout", id, at.Sub(killed))
	}
	code, body := api(t, c, "POST", "/v1/presence/bulk", map[string]any{"user_ids": users})
	if code != 200 {
		t.Fatalf("bulk after failover = %d %s", code, body)
	}
	for _, id := range users {
		ps, err := writer.GetPresence(ctxFor(t, 5*time.Second), id)
		if err != nil || ps[id].Status != presence.StatusOnline {
			t.Errorf("%s after failover: %+v %v", id, ps[id], err)
		}
	}
	mu.Lock()
	window := "none"
	if !firstFail.IsZero() {
		window = fmt.Sprintf("%s from %s after the kill", lastFail.Sub(firstFail).Round(time.Millisecond), firstFail.Sub(killed).Round(time.Millisecond))
	}
	mu.Unlock()
	t.Logf("master killed: replica promoted after %s; writes OK again after %s; failed writes %d of %d (window %s); not ready: A %s, B %s, C %s",
		promoted.Round(time.Millisecond), recovered.Round(time.Millisecond), failures.Load(), writes.Load(), window,
		notReady[0].Round(time.Millisecond), notReady[1].Round(time.Millisecond), notReady[2].Round(time.Millisecond))
}
