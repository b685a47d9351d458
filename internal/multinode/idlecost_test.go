package multinode_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/redistest"
)

// Sizes of the idle-cost measurement.
const (
	idleNodes    = 3
	idlePerNode  = 5000
	idleWatches  = 10
	idleWindow   = 20 * time.Second
	idleWindows  = 3
	idleTarget   = 50.0 // Redis commands per second, all masters together
	idleHeartbit = 15 * time.Second
)

// TestIdleStoreCost measures what idle sessions cost Redis: 3 presenced
// processes on a 3-master Redis Cluster, 5,000 sessions on each, every
// session watching 10 users and heartbeating every 15 s, nobody changing
// anything. It reads INFO commandstats of every master over three windows
// of 20 s and reports the commands per second (median window) by command.
// Run it with PRESENCED_BENCH=1; it holds 15,000 sockets in the test
// process.
func TestIdleStoreCost(t *testing.T) {
	if os.Getenv("PRESENCED_BENCH") != "1" {
		t.Skip("measurement only: set PRESENCED_BENCH=1 to run it")
	}
	cluster := redistest.StartCluster(t, 3, 0)
	nodes := make([]*node, idleNodes)
	for i := range nodes {
		nodes[i] = startNode(t, string(rune('A'+i)), cluster.URL(),
			"--heartbeat-interval", "15s", "--heartbeat-ttl", "30s")
	}
	total := idleNodes * idlePerNode
	conns := make([]*websocket.Conn, total)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, total)
	for i := range total {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			// The machine may be busy: a dial that times out is retried.
			var c *websocket.Conn
			var err error
			for range 3 {
				if c, err = idleSession(nodes[i%idleNodes], i, total); err == nil {
					break
				}
			}
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.CloseNow()
		}
	})
	// Heartbeats, spread over the interval.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(idleHeartbit / time.Duration(total))
		defer tick.Stop()
		for i := 0; ; i = (i + 1) % total {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conns[i].Write(ctx, websocket.MessageText, []byte(`{"type":"heartbeat"}`))
			cancel()
		}
	}()
	time.Sleep(5 * time.Second) // subscriptions settle
	var rates []float64
	var last map[string]float64
	for range idleWindows {
		before := commandCalls(t, cluster)
		time.Sleep(idleWindow)
		after := commandCalls(t, cluster)
		per := map[string]float64{}
		sum := 0.0
		for cmd, n := range after {
			if d := float64(n-before[cmd]) / idleWindow.Seconds(); d > 0 {
				per[cmd] = d
				sum += d
			}
		}
		rates = append(rates, sum)
		last = per
		t.Logf("window: %.1f commands/s: %s", sum, formatRates(per))
	}
	sort.Float64s(rates)
	median := rates[len(rates)/2]
	t.Logf("%d nodes × %d idle sessions (%d watched users each, heartbeat %s): median %.1f Redis commands/s (target ≤ %.0f); last window by command: %s",
		idleNodes, idlePerNode, idleWatches, idleHeartbit, median, idleTarget, formatRates(last))
	if median > idleTarget {
		t.Errorf("median %.1f Redis commands/s over the target %.0f", median, idleTarget)
	}
}

// idleSession opens user i's session, watching the next idleWatches users,
// and reads (answering pings) until closed.
func idleSession(n *node, i, total int) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	u, _ := client.URL(n.base, client.Options{UserID: "idle" + strconv.Itoa(i), Device: "web"})
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	watched := make([]string, idleWatches)
	for k := range watched {
		watched[k] = strconv.Quote("idle" + strconv.Itoa((i+1+k)%total))
	}
	if err := onlineAndWatching(ctx, ws, "idle"+strconv.Itoa(i), "["+strings.Join(watched, ",")+"]"); err != nil {
		return nil, err
	}
	go func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return ws, nil
}

// commandCalls sums INFO commandstats' calls per command over the masters.
func commandCalls(t *testing.T, c *redistest.Cluster) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, m := range c.Masters() {
		info, err := redistest.DoString(m.Addr(), "INFO", "commandstats")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
			if !ok {
				continue
			}
			calls, _, _ := strings.Cut(rest, ",")
			n, _ := strconv.ParseInt(calls, 10, 64)
			out[strings.TrimPrefix(name, "cmdstat_")] += n
		}
	}
	return out
}

func formatRates(per map[string]float64) string {
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return per[names[i]] > per[names[j]] })
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s %.1f, ", n, per[n])
	}
	return strings.TrimSuffix(b.String(), ", ")
}

// onlineAndWatching opens user id's session on ws and subscribes it to
// users (a JSON array), waiting for both acks before the caller reads
// freely. It closes ws on failure.
func onlineAndWatching(ctx context.Context, ws *websocket.Conn, id, users string) error {
	for _, req := range []string{`{"type":"set_online","id":1}`, `{"type":"subscribe","id":2,"user_ids":` + users + `}`} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
			ws.CloseNow()
			return err
		}
	}
	for acked := 0; acked < 2; {
		_, data, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			return err
		}
		if strings.Contains(string(data), `"type":"error"`) {
			ws.CloseNow()
			return fmt.Errorf("%s: %s", id, data)
		}
		if strings.Contains(string(data), `"id":1`) || strings.Contains(string(data), `"id":2`) {
			acked++
		}
	}
	return nil
}
