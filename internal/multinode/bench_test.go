package multinode_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/redistest"
	"github.com/presenced/presenced/redisstore"
)

// Bench sizes.
const (
	benchSubscribers = 10000
	benchRounds      = 20
	benchBulkReads   = 300
	benchInterval    = 5 * time.Second
	benchTTL         = 10 * time.Second
)

// TestBenchmark measures, on 3 presenced processes and a 3-master Redis
// Cluster on this machine: fan-out of one user's change to 10,000
// subscribers spread over the nodes; bulk reads of 1,000 users; and the
// time from kill -9 of a node to its users' offline events elsewhere.
// Run it with PRESENCED_BENCH=1 (see docs/redis.md); it takes about a
// minute and 10,000 sockets in the test process.
func TestBenchmark(t *testing.T) {
	if os.Getenv("PRESENCED_BENCH") != "1" {
		t.Skip("measurement only: set PRESENCED_BENCH=1 to run it")
	}
	cluster := redistest.StartCluster(t, 3, 0)
	flags := []string{"--heartbeat-interval", benchInterval.String(), "--heartbeat-ttl", benchTTL.String()}
	nodes := []*node{
		startNode(t, "A", cluster.URL(), flags...),
		startNode(t, "B", cluster.URL(), flags...),
		startNode(t, "C", cluster.URL(), flags...),
	}

	// 10,000 users, each online on one of the nodes and watching "star".
	received := make([][]atomic.Int64, benchRounds) // unix nanos per round and subscriber
	for r := range received {
		received[r] = make([]atomic.Int64, benchSubscribers)
	}
	began := time.Now()
	conns := make([]*websocket.Conn, benchSubscribers)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var dialErr atomic.Pointer[error]
	for i := range benchSubscribers {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := subscriber(nodes[i%3], i, received)
			if err != nil {
				dialErr.CompareAndSwap(nil, &err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if err := dialErr.Load(); err != nil {
		t.Fatal(*err)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.CloseNow()
		}
	})
	t.Logf("%d subscribers online and subscribed in %s", benchSubscribers, time.Since(began).Round(time.Millisecond))

	// Fan-out: star changes its custom status; every subscriber must get it.
	star := online(t, nodes[0], "star", "web")
	idle := cpuSeconds(t, nodes)
	time.Sleep(5 * time.Second)
	cpuBefore := cpuSeconds(t, nodes)
	t.Logf("CPU while idle for 5s (10,000 sessions, pings and refreshes only): nodes %.2fs %.2fs %.2fs, measuring process %.2fs",
		cpuBefore[0]-idle[0], cpuBefore[1]-idle[1], cpuBefore[2]-idle[2], cpuBefore[3]-idle[3])
	phase := time.Now()
	var perSub, toLast []time.Duration
	for r := range benchRounds {
		time.Sleep(time.Second) // rounds apart: each measured on its own
		sent := time.Now()
		if err := star.SetStatus(ctxFor(t, 5*time.Second), map[string]any{"custom_status": "r" + strconv.Itoa(r)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("round %d at every subscriber", r), 30*time.Second, func() bool {
			for i := range received[r] {
				if received[r][i].Load() == 0 {
					return false
				}
			}
			return true
		})
		var last time.Duration
		for i := range received[r] {
			d := time.Duration(received[r][i].Load() - sent.UnixNano())
			perSub = append(perSub, d)
			last = max(last, d)
		}
		toLast = append(toLast, last)
	}
	t.Logf("fan-out to %d subscribers on 3 nodes, %d rounds: per delivery p50 %s p99 %s; to the last subscriber p50 %s p99 %s max %s",
		benchSubscribers, benchRounds, pct(perSub, 50), pct(perSub, 99), pct(toLast, 50), pct(toLast, 99), pct(toLast, 100))
	cpuAfter := cpuSeconds(t, nodes)
	t.Logf("CPU during the fan-out phase (%d rounds in %s): nodes %.2fs %.2fs %.2fs, measuring process %.2fs",
		benchRounds, time.Since(phase).Round(time.Millisecond), cpuAfter[0]-cpuBefore[0], cpuAfter[1]-cpuBefore[1], cpuAfter[2]-cpuBefore[2], cpuAfter[3]-cpuBefore[3])

	// Bulk reads of 1,000 users (online ones, with a session each).
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = "sub" + strconv.Itoa(i*7)
	}
	body := `{"user_ids":["` + strings.Join(ids, `","`) + `"]}`
	var httpTimes []time.Duration
	for i := range benchBulkReads {
		req, _ := http.NewRequest("POST", nodes[i%3].base+"/v1/presence/bulk", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var sink [4096]byte
		for {
			if _, err := resp.Body.Read(sink[:]); err != nil {
				break
			}
		}
		resp.Body.Close()
		httpTimes = append(httpTimes, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("bulk = %d", resp.StatusCode)
		}
	}
	be, err := redisstore.Open(redisstore.Config{URL: cluster.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	var loadTimes []time.Duration
	for range benchBulkReads {
		start := time.Now()
		got, err := be.Store.Load(context.Background(), ids)
		loadTimes = append(loadTimes, time.Since(start))
		if err != nil || len(got) != len(ids) {
			t.Fatalf("Load: %d users, %v", len(got), err)
		}
	}
	t.Logf("bulk read of 1,000 online users: Store.Load p50 %s p99 %s; POST /v1/presence/bulk (HTTP, JSON, client in-process) p50 %s p99 %s",
		pct(loadTimes, 50), pct(loadTimes, 99), pct(httpTimes, 50), pct(httpTimes, 99))

	// kill -9 of node C: when do watchers on A and B see its users leave?
	var victims []string
	for i := 2; i < benchSubscribers && len(victims) < 1000; i += 3 {
		victims = append(victims, "sub"+strconv.Itoa(i))
	}
	watchers := []*observed{observe(t, nodes[0], "killwatchA", victims), observe(t, nodes[1], "killwatchB", victims)}
	killed := time.Now()
	nodes[2].kill()
	waitFor(t, "C's users offline at both watchers", benchTTL+10*time.Second, func() bool {
		for _, w := range watchers {
			if off, _ := w.snapshot(); len(off) < len(victims) {
				return false
			}
		}
		return true
	})
	var delays []time.Duration
	for _, w := range watchers {
		off, _ := w.snapshot()
		for _, at := range off {
			delays = append(delays, at.Sub(killed))
		}
	}
	t.Logf("kill -9 of a node holding %d sessions (interval %s, TTL %s): offline events for 1,000 of its users at the other nodes after p0 %s p50 %s p99 %s max %s",
		benchSubscribers/3, benchInterval, benchTTL, pct(delays, 0), pct(delays, 50), pct(delays, 99), pct(delays, 100))
	for _, n := range nodes[:2] {
		t.Logf("node %s: %s", n.name, metricLines(t, n, "presenced_expiries_total", "presenced_sessions ", "presenced_sessions_reasserted_total", "process_cpu_seconds_total"))
	}
}

// cpuSeconds returns the CPU time used so far by each node and, last, by
// this process.
func cpuSeconds(t *testing.T, nodes []*node) []float64 {
	var out []float64
	for _, n := range nodes {
		var v float64
		line := metricLines(t, n, "process_cpu_seconds_total")
		fmt.Sscanf(strings.TrimPrefix(line, "process_cpu_seconds_total "), "%g", &v)
		out = append(out, v)
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return append(out, self.Seconds())
}

// metricLines returns the node's metrics lines starting with the prefixes.
func metricLines(t *testing.T, n *node, prefixes ...string) string {
	resp, err := http.Get(n.base + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "; ")
}

// subscriber connects user sub<i> to n, opens its session and subscribes
// it to "star". It reads with a bare WebSocket and finds the round number
// in star's updates by a byte search: decoding JSON for 10,000 sockets in
// the measuring process would measure the client more than the servers.
func subscriber(n *node, i int, received [][]atomic.Int64) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := "sub" + strconv.Itoa(i)
	u, _ := client.URL(n.base, client.Options{UserID: id, Device: "web"})
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	// Requests carry ids; wait for their acks before reading freely.
	for _, req := range []string{`{"type":"set_online","id":1}`, `{"type":"subscribe","id":2,"user_ids":["star"]}`} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	for acked := 0; acked < 2; {
		_, data, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			return nil, err
		}
		if bytes.Contains(data, []byte(`"type":"error"`)) {
			ws.CloseNow()
			return nil, fmt.Errorf("%s: %s", id, data)
		}
		if bytes.Contains(data, []byte(`"id":1`)) || bytes.Contains(data, []byte(`"id":2`)) {
			acked++
		}
	}
	marker := []byte(`"custom_status":"r`)
	go func() {
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			at := time.Now().UnixNano()
			k := bytes.Index(data, marker)
			if k < 0 {
				continue
			}
			rest := data[k+len(marker):]
			end := bytes.IndexByte(rest, '"')
			if r, err := strconv.Atoi(string(rest[:max(end, 0)])); err == nil && r < len(received) {
				received[r][i].CompareAndSwap(0, at)
			}
		}
	}()
	return ws, nil
}

// pct returns the p-th percentile of ds (0: min, 100: max).
func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s) - 1) * p / 100
	return s[i].Round(10 * time.Microsecond)
}
