package multinode_test

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/redisstore"
)

// offlineTimes collects, per watcher, when each user's offline update
// arrived, and every other update.
type observed struct {
	mu      sync.Mutex
	offline map[string]time.Time
	other   []presence.Presence
}

func observe(t *testing.T, n *node, watcher string, users []string) *observed {
	t.Helper()
	o := &observed{offline: map[string]time.Time{}}
	c, err := client.Dial(ctxFor(t, 5*time.Second), n.base, client.Options{UserID: watcher, OnMessage: func(m client.Message) {
		if m.Type != protocol.TypePresenceUpdate {
			return
		}
		p, err := m.PresenceValue()
		if err != nil {
			return
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if p.Status == presence.StatusOffline {
			o.offline[p.UserID] = m.Received
		} else {
			o.other = append(o.other, p)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Drop)
	if _, err := c.Subscribe(ctxFor(t, 5*time.Second), users...); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *observed) snapshot() (map[string]time.Time, []presence.Presence) {
	o.mu.Lock()
	defer o.mu.Unlock()
	off := make(map[string]time.Time, len(o.offline))
	for k, v := range o.offline {
		off[k] = v
	}
	return off, append([]presence.Presence(nil), o.other...)
}

// TestKillNode kills a node with SIGKILL: its users go offline on the
// other nodes within TTL + 1 s, and nobody else flaps.
func TestKillNode(t *testing.T) {
	a, b, c := threeNodes(t)
	var doomed, survivors []string
	for i := range 10 {
		doomed = append(doomed, fmt.Sprintf("onB%d", i))
		survivors = append(survivors, fmt.Sprintf("onA%d", i), fmt.Sprintf("onC%d", i))
	}
	all := append(append([]string(nil), doomed...), survivors...)
	watchers := []*observed{observe(t, a, "watcherA", all), observe(t, c, "watcherC", all)}
	for i := range 10 {
		online(t, b, doomed[i], "web")
		online(t, a, survivors[2*i], "web")
		online(t, c, survivors[2*i+1], "web")
	}
	waitFor(t, "every user online at both watchers", 10*time.Second, func() bool {
		for _, w := range watchers {
			_, other := w.snapshot()
			seen := map[string]bool{}
			for _, p := range other {
				seen[p.UserID] = true
			}
			if len(seen) < len(all) {
				return false
			}
		}
		return true
	})
	before := make([]int, len(watchers))
	for i, w := range watchers {
		_, other := w.snapshot()
		before[i] = len(other)
	}

	killed := time.Now()
	b.kill()
	waitFor(t, "B's users offline at both watchers", ttl+3*time.Second, func() bool {
		for _, w := range watchers {
			if off, _ := w.snapshot(); len(off) < len(doomed) {
				return false
			}
		}
		return true
	})
	var delays []time.Duration
	for i, w := range watchers {
		off, other := w.snapshot()
		for _, id := range doomed {
			d := off[id].Sub(killed)
			delays = append(delays, d)
			if d > ttl+time.Second {
				t.Errorf("watcher %d saw %s offline %s after the kill; want within TTL + 1s = %s", i, id, d, ttl+time.Second)
			}
		}
		for _, id := range survivors {
			if _, ok := off[id]; ok {
				t.Errorf("watcher %d saw %s (on a live node) go offline", i, id)
			}
		}
		if len(other) != before[i] {
			t.Errorf("watcher %d got %d more updates than the offlines: %+v", i, len(other)-before[i], other[before[i]:])
		}
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	t.Logf("kill -9 → offline at the other nodes (TTL %s): min %s, median %s, max %s over %d events",
		ttl, delays[0], delays[len(delays)/2], delays[len(delays)-1], len(delays))
}

// TestGracefulShutdownIsUnseen stops a node with SIGTERM: its clients are
// told to reconnect (1012), do so on another node within the grace, and
// nobody sees them leave.
func TestGracefulShutdownIsUnseen(t *testing.T) {
	a, b, c := threeNodes(t)
	w, _ := watch(t, a, "watcher", "alice", "bob")
	users := map[string]*client.Conn{"alice": online(t, b, "alice", "web"), "bob": online(t, b, "bob", "mobile")}
	seen := map[string]uint64{}
	for range users {
		p := update(t, w, 5*time.Second)
		seen[p.UserID] = p.V
	}
	b.stop()
	if log, _ := os.ReadFile(b.log); strings.Contains(string(log), `"level":"ERROR"`) {
		t.Errorf("shutdown logged errors:\n%s", log)
	}
	// Before exiting, B stored the start of each session's grace.
	be, err := redisstore.Open(redisstore.Config{URL: shared.cluster.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	states, err := be.Store.Load(ctxFor(t, 5*time.Second), []string{"alice", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	for id, st := range states {
		if len(st.Sessions) != 1 || st.Sessions[0].GraceUntil.IsZero() {
			t.Fatalf("%s after B stopped: %+v; want its session in its grace", id, st.Sessions)
		}
	}
	for id, conn := range users {
		if got := closed(t, conn, 5*time.Second); got != protocol.CloseServiceRestart {
			t.Fatalf("%s closed with %d, want 1012", id, got)
		}
		device := "web"
		if id == "bob" {
			device = "mobile"
		}
		online(t, c, id, device) // what a client does on 1012
	}
	time.Sleep(grace + ttl) // past every deadline of the old sessions
	for _, id := range []string{"alice", "bob"} {
		unchangedSince(t, a, w, id, seen[id])
	}
}
