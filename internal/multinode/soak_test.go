package multinode_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// The soak runs only when asked (make soak): PRESENCED_SOAK=1, for
// PRESENCED_SOAK_DURATION (default 10m) per deployment.
func soakDuration(t *testing.T) time.Duration {
	if os.Getenv("PRESENCED_SOAK") == "" {
		t.Skip("set PRESENCED_SOAK=1 to run the soak (make soak)")
	}
	d := 10 * time.Minute
	if s := os.Getenv("PRESENCED_SOAK_DURATION"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("PRESENCED_SOAK_DURATION: %v", err)
		}
		d = v
	}
	return d
}

// soakTimings are a production node's timings, scaled down a little so
// that the end of the load's sessions comes soon: the fault tests' short
// TTL (2 s) would take a client that a loaded machine keeps from answering
// a ping for two seconds for a dead one, which is not what a soak looks for.
var soakTimings = []string{"--heartbeat-interval", "5s", "--heartbeat-ttl", "15s", "--offline-grace", "5s"}

const soakTTL = 15 * time.Second

// TestSoakOneNode runs the mixed workload on one node on the embedded
// store, restarting it (SIGTERM) a third of the way through.
func TestSoakOneNode(t *testing.T) {
	d := soakDuration(t)
	dataDir := t.TempDir()
	nodes := []*node{startNode(t, "bolt", "", append(soakTimings, "--data-dir", dataDir)...)}
	soak(t, d, nodes, func(i int, addr string) *node {
		return startNode(t, "bolt-again", "", append(soakTimings, "--data-dir", dataDir, "--addr", addr)...)
	})
}

// TestSoakThreeNodes runs the mixed workload on three nodes over the
// 3-master Redis Cluster, restarting one of them a third of the way through.
func TestSoakThreeNodes(t *testing.T) {
	d := soakDuration(t)
	url := sharedCluster(t).URL()
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startNode(t, fmt.Sprintf("n%d", i), url, soakTimings...))
	}
	soak(t, d, nodes, func(i int, addr string) *node {
		return startNode(t, fmt.Sprintf("n%d-again", i), url, append(soakTimings, "--addr", addr)...)
	})
}

// usage is one process's footprint.
type usage struct {
	rssKB, goroutines, files int
}

func (u usage) String() string {
	return fmt.Sprintf("RSS %d KB, %d goroutines, %d open files", u.rssKB, u.goroutines, u.files)
}

func measure(t *testing.T, n *node) usage {
	t.Helper()
	pid := n.cmd.Process.Pid
	var u usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			u.rssKB, _ = strconv.Atoi(f[1])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	u.files = len(fds)
	resp, err := noKeepAlive.Get(n.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			u.goroutines, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if u.goroutines == 0 {
		t.Fatalf("%s: no go_goroutines in /metrics", n.name)
	}
	return u
}

// noKeepAlive reads /metrics without leaving an idle connection that
// would count among the node's open files.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// soakLoad counts what the workload did and which errors it met.
type soakLoad struct {
	ops        atomic.Int64
	reconnects atomic.Int64
	mu         sync.Mutex
	errs       map[string]int // unexpected, by kind
	restarting atomic.Bool    // a node is restarting: unavailable and dial errors are expected
	expected   atomic.Int64
}

func (l *soakLoad) fail(kind string, err error) {
	if l.restarting.Load() && (presence.ErrorCode(err) == presence.CodeUnavailable || !isReply(err)) {
		l.expected.Add(1)
		return
	}
	l.mu.Lock()
	l.errs[kind+": "+errText(err)]++
	l.mu.Unlock()
}

func isReply(err error) bool {
	var pe *presence.Error
	return errors.As(err, &pe)
}

func errText(err error) string {
	if isReply(err) {
		return string(presence.ErrorCode(err))
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

const (
	soakUsers = 240
	soakRooms = 12
)

// soak runs the workload against nodes for d, restarts node 0 a third of
// the way through (restart starts it again on the same address), then
// stops the load and checks that every node's RSS, goroutines and open
// files come back to what they were before the load. The baseline is taken
// after a short warm-up of the same workload: what a node builds once and
// keeps (a pub/sub connection per channel partition it has used, pools)
// is part of its footprint, not growth.
func soak(t *testing.T, d time.Duration, nodes []*node, restart func(i int, addr string) *node) {
	var cur sync.Map // index → *node
	for i, n := range nodes {
		cur.Store(i, n)
	}
	pick := func(r *rand.Rand) *node {
		n, _ := cur.Load(r.IntN(len(nodes)))
		return n.(*node)
	}
	warm := &soakLoad{errs: map[string]int{}}
	runLoad(min(d/10, 30*time.Second), warm, pick, 1000, nil)
	warm.check(t, "the warm-up")
	time.Sleep(soakTTL) // the warm-up's sessions end (their grace, 5 s)
	base := make([]usage, len(nodes))
	for i, n := range nodes {
		base[i] = measure(t, n)
		t.Logf("%s before the load: %s", n.name, base[i])
	}

	load := &soakLoad{errs: map[string]int{}}
	runLoad(d, load, pick, 0, func() {
		old := nodes[0]
		addr := strings.TrimPrefix(old.base, "http://")
		load.restarting.Store(true)
		old.stop()
		again := restart(0, addr)
		cur.Store(0, again)
		nodes[0] = again
		t.Logf("restarted %s as %s at %s", old.name, again.name, addr)
		time.Sleep(10 * time.Second) // clients find it again
		load.restarting.Store(false)
	})
	load.check(t, "the load")
	// The restarted node is a new process: its footprint is compared with
	// the largest of the nodes' before the load, since processes of one
	// binary differ a little (a Redis client's connections to the
	// cluster's nodes, found as it goes).
	for _, u := range base[1:] {
		base[0].rssKB, base[0].goroutines, base[0].files = max(base[0].rssKB, u.rssKB), max(base[0].goroutines, u.goroutines), max(base[0].files, u.files)
	}

	// Every client is gone; the sessions end after the grace. Each node
	// must come back to its footprint before the load: no goroutine, file
	// or memory left behind by a connection, a subscription or a room.
	for i, n := range nodes {
		var last usage
		deadline := time.Now().Add(2 * time.Minute)
		for {
			last = measure(t, n)
			if last.goroutines <= base[i].goroutines+2 && last.files <= base[i].files+2 &&
				last.rssKB <= base[i].rssKB+32<<10 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s did not return to its baseline: %s after, %s before", n.name, last, base[i])
				break
			}
			time.Sleep(time.Second)
		}
		t.Logf("%s after the load: %s", n.name, last)
	}
}

// runLoad runs soakUsers people and an HTTP reader for d; seed varies the
// people's choices; midway, when set, runs a third of the way through.
func runLoad(d time.Duration, load *soakLoad, pick func(*rand.Rand) *node, seed int, midway func()) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for u := range soakUsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			soakUser(ctx, load, u, seed, pick)
		}()
	}
	wg.Add(1)
	go func() { // HTTP readers
		defer wg.Done()
		soakHTTP(ctx, load, pick)
	}()
	if midway != nil {
		select {
		case <-time.After(d / 3):
			midway()
		case <-ctx.Done():
		}
	}
	wg.Wait()
}

// check fails t with every unexpected error the load met.
func (l *soakLoad) check(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: %d operations, %d connections, %d errors expected around the restart", what, l.ops.Load(), l.reconnects.Load(), l.expected.Load())
	if len(l.errs) == 0 {
		return
	}
	var kinds []string
	for k, n := range l.errs {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(kinds)
	t.Errorf("unexpected errors in %s:\n%s", what, strings.Join(kinds, "\n"))
}

// soakUser is one person: connects, goes online, watches others, changes
// status, idles, joins rooms and moves a cursor, changes privacy, and now
// and then drops the connection or closes it cleanly and comes back.
func soakUser(ctx context.Context, load *soakLoad, u, seed int, pick func(*rand.Rand) *node) {
	r := rand.New(rand.NewPCG(uint64(u), uint64(seed)))
	me := fmt.Sprintf("soak%03d", u)
	other := func() string { return fmt.Sprintf("soak%03d", r.IntN(soakUsers)) }
	for ctx.Err() == nil {
		opctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := client.Dial(opctx, pick(r).base, client.Options{UserID: me, Device: []string{"web", "mobile"}[r.IntN(2)], OnMessage: func(client.Message) {}})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				load.fail("dial", err)
				sleepCtx(ctx, 500*time.Millisecond)
			}
			continue
		}
		load.reconnects.Add(1)
		soakSession(ctx, load, r, c, other)
		if r.IntN(2) == 0 {
			c.Drop()
		} else {
			_ = c.Close()
		}
	}
}

// soakSession plays one connection's life: 20 to 200 actions.
func soakSession(ctx context.Context, load *soakLoad, r *rand.Rand, c *client.Conn, other func() string) {
	do := func(kind string, f func(ctx context.Context) error) bool {
		opctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := f(opctx)
		if err != nil && ctx.Err() == nil {
			if code := c.CloseStatus(); !isReply(err) && code > 0 {
				kind = fmt.Sprintf("%s (the server closed the connection with %d)", kind, code)
			} else if cerr := c.Err(); !isReply(err) && cerr != nil {
				kind = fmt.Sprintf("%s (the connection ended: %v)", kind, cerr)
			}
			load.fail(kind, err)
			return !errors.Is(err, context.DeadlineExceeded) && isReply(err)
		}
		load.ops.Add(1)
		return ctx.Err() == nil
	}
	if !do("set_online", func(ctx context.Context) error { return c.SetOnline(ctx, "") }) {
		return
	}
	room := ""
	for range 20 + r.IntN(180) {
		if !sleepCtx(ctx, time.Duration(100+r.IntN(400))*time.Millisecond) {
			return
		}
		var ok bool
		switch k := r.IntN(100); {
		case k < 20:
			st := []string{"online", "away", "busy"}[r.IntN(3)]
			ok = do("set_status", func(ctx context.Context) error {
				return c.SetStatus(ctx, map[string]any{"status": st, "custom_status": fmt.Sprintf("soak %d", r.IntN(1000))})
			})
		case k < 30:
			idle := r.IntN(2) == 0
			ok = do("idle_state", func(ctx context.Context) error { return c.IdleState(ctx, idle) })
		case k < 42:
			ids := []string{other(), other(), other(), other(), other()}
			ok = do("subscribe", func(ctx context.Context) error { _, err := c.Subscribe(ctx, ids...); return err })
		case k < 48:
			ids := []string{other(), other()}
			ok = do("unsubscribe", func(ctx context.Context) error { return c.Unsubscribe(ctx, ids...) })
		case k < 56 && room == "":
			room = fmt.Sprintf("soak:doc:%d", r.IntN(soakRooms))
			ok = do("join_room", func(ctx context.Context) error {
				_, err := c.JoinRoom(ctx, room, map[string]any{"mode": "viewing"})
				return err
			})
		case k < 70 && room != "":
			for range 5 {
				x, y := r.IntN(1000), r.IntN(1000)
				ok = do("cursor", func(ctx context.Context) error { return c.Cursor(ctx, room, map[string]any{"x": x, "y": y}) })
			}
		case k < 74 && room != "":
			ok = do("update_room_meta", func(ctx context.Context) error {
				return c.UpdateRoomMeta(ctx, room, map[string]any{"mode": "editing"})
			})
		case k < 78 && room != "":
			ok = do("leave_room", func(ctx context.Context) error { return c.LeaveRoom(ctx, room) })
			room = ""
		case k < 82:
			vis := []string{"everyone", "contacts", "nobody"}[r.IntN(3)]
			ok = do("set_privacy", func(ctx context.Context) error {
				_, err := c.Request(ctx, map[string]any{"type": protocol.TypeSetPrivacy, "visibility": vis})
				return err
			})
		case k < 86:
			typ := []string{protocol.TypeBlock, protocol.TypeUnblock}[r.IntN(2)]
			id := other()
			ok = do(typ, func(ctx context.Context) error {
				_, err := c.Request(ctx, map[string]any{"type": typ, "user_id": id})
				if presence.ErrorCode(err) == presence.CodeInvalidArgument { // blocking oneself
					return nil
				}
				return err
			})
		case k < 94:
			ids := []string{other(), other(), other()}
			ok = do("get_presence", func(ctx context.Context) error { _, err := c.GetPresence(ctx, ids...); return err })
		default:
			ok = do("ping", func(ctx context.Context) error {
				_, err := c.Request(ctx, map[string]any{"type": protocol.TypePing})
				return err
			})
		}
		if !ok {
			return
		}
	}
}

// soakHTTP reads presence and rooms over the HTTP API, as a backend would.
func soakHTTP(ctx context.Context, load *soakLoad, pick func(*rand.Rand) *node) {
	r := rand.New(rand.NewPCG(99, 7))
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for sleepCtx(ctx, 50*time.Millisecond) {
		var req *http.Request
		base := pick(r).base
		if r.IntN(2) == 0 {
			ids := make([]string, 50)
			for i := range ids {
				ids[i] = fmt.Sprintf("%q", fmt.Sprintf("soak%03d", r.IntN(soakUsers)))
			}
			req, _ = http.NewRequestWithContext(ctx, "POST", base+"/v1/presence/bulk", bytes.NewReader([]byte(`{"user_ids":[`+strings.Join(ids, ",")+`]}`)))
		} else {
			req, _ = http.NewRequestWithContext(ctx, "GET", base+fmt.Sprintf("/v1/rooms/soak:doc:%d/members", r.IntN(soakRooms)), nil)
		}
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				load.fail("http", err)
			}
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			load.ops.Add(1)
		case resp.StatusCode == http.StatusServiceUnavailable:
			load.fail("http", &presence.Error{Code: presence.CodeUnavailable})
		default:
			load.fail("http", fmt.Errorf("%s %s: HTTP %d", req.Method, req.URL.Path, resp.StatusCode))
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}
