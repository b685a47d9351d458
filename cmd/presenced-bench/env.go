//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"syscall"
	"time"
)

// common holds the flags every scenario takes.
type common struct {
	URL             string
	Secret          string
	APIKey          string
	ServerPID       int
	PerWorker       int
	DialConcurrency int
	TimeLimit       time.Duration
	Device          string
}

// maxConnections bounds what one scenario opens of each kind: far more than
// one node takes (a process holds at most 20,000 open files here), so a
// mistyped count fails at once rather than starting dozens of workers.
const maxConnections = 100000

// maxPerWorker leaves room under the 20,000 open files of a process for
// the worker's own files.
const maxPerWorker = 19000

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:7700", "base URL of the presenced node to measure (the only address contacted)")
	fs.StringVar(&c.Secret, "jwt-secret", "", "HS256 secret to sign client tokens with; empty means the server runs --dev and takes ?user_id=")
	fs.StringVar(&c.APIKey, "api-key", "dev-api-key", "API key for the HTTP API (bulk)")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "pid of the server process, for RSS and CPU from /proc (same machine)")
	fs.IntVar(&c.PerWorker, "per-worker", 5000, fmt.Sprintf("connections per worker process (at most %d)", maxPerWorker))
	fs.IntVar(&c.DialConcurrency, "dial-concurrency", 100, "handshakes in flight per worker while opening connections")
	fs.DurationVar(&c.TimeLimit, "time-limit", 5*time.Minute, "the scenario is abandoned after this long")
	fs.StringVar(&c.Device, "device", "bench", "device name of every client session")
}

func (c *common) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "ws") {
		return fmt.Errorf("--url %q: want http://host:port", c.URL)
	}
	if c.PerWorker < 1 || c.PerWorker > maxPerWorker {
		return fmt.Errorf("--per-worker must be 1–%d", maxPerWorker)
	}
	if c.TimeLimit <= 0 || c.TimeLimit > time.Hour {
		return errors.New("--time-limit must be positive and at most 1h")
	}
	if c.ServerPID != 0 {
		if err := syscall.Kill(c.ServerPID, 0); err != nil {
			return fmt.Errorf("--server-pid %d: %w", c.ServerPID, err)
		}
	}
	return nil
}

// env is one scenario run: its workers, its user names, its deadline.
type env struct {
	common
	runID   string
	events  chan workerEvent
	workers []*worker
	// nodes are the presenced processes the clients spread over: --url
	// and --server-pid, unless a multi-node run gives several.
	nodes []nodeRef
}

// nodeRef is one presenced process under measurement.
type nodeRef struct {
	URL string
	PID int
}

func runScenario(ctx context.Context, name string, sc scenario, c common) (*report, error) {
	return runScenarioOn(ctx, name, sc, c, nil)
}

// runScenarioOn runs sc with its clients spread over nodes (nil: the one
// of c).
func runScenarioOn(ctx context.Context, name string, sc scenario, c common, nodes []nodeRef) (*report, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.TimeLimit)
	defer cancel()
	if len(nodes) == 0 {
		nodes = []nodeRef{{URL: c.URL, PID: c.ServerPID}}
	}
	e := &env{common: c, runID: newRunID(), events: make(chan workerEvent, 4096), nodes: nodes}
	defer e.stopWorkers()
	load := loadAverage()
	rep, err := sc.run(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// The machine is shared: say how busy it was, since every figure
	// depends on it.
	rep.param("loadavg_1m_at_start", load)
	return rep, nil
}

// loadAverage returns the machine's one-minute load average, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return -1
	}
	return l
}

// newRunID names a run; every user of the run starts with it, so runs
// against the same server never share users.
func newRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *env) prefix(role string) string { return e.runID + role }

// spawnOn starts a worker whose clients connect to e.nodes[node].
func (e *env) spawnOn(name string, node int) (*worker, error) {
	w, err := startWorker(name, groupConfig{
		URL: e.nodes[node].URL, Secret: e.Secret, Device: e.Device,
		DialConcurrency: e.DialConcurrency, TimeLimit: e.TimeLimit,
	}, e.events)
	if err != nil {
		return nil, err
	}
	w.node = node
	e.workers = append(e.workers, w)
	return w, nil
}

func (e *env) stopWorkers() {
	for _, w := range e.workers {
		w.stop()
	}
}

// opened sums the open replies of a set of workers.
type opened struct {
	Opened, Failed int
	Errors         []string
	Welcome        welcomeInfo
	Seconds        float64
}

// population starts enough workers for n clients and opens them, each
// worker taking a contiguous range of users; a is the template.
func (e *env) population(ctx context.Context, role string, n int, a openArgs) ([]*worker, opened, error) {
	var tot opened
	if n <= 0 || n > maxConnections {
		return nil, tot, fmt.Errorf("%s: %d connections; allowed 1–%d", role, n, maxConnections)
	}
	nodes := len(e.nodes)
	a.Prefix, a.Total = e.prefix(role), n
	args, err := splitUsers(a, n, e.PerWorker, nodes)
	if err != nil {
		return nil, tot, fmt.Errorf("%s: %w", role, err)
	}
	nw := len(args)
	ws := make([]*worker, nw)
	for i := range ws {
		w, err := e.spawnOn(fmt.Sprintf("%s-worker-%d", role, i), i%nodes)
		if err != nil {
			return nil, tot, err
		}
		ws[i] = w
	}
	start := time.Now()
	reps := make([]openReply, nw)
	errs := make(chan error, nw)
	for i, w := range ws {
		go func() { errs <- w.call(ctx, "open", args[i], &reps[i]) }()
	}
	for range ws {
		err = errors.Join(err, <-errs)
	}
	for _, r := range reps {
		tot.Opened += r.Opened
		tot.Failed += r.Failed
		tot.Errors = append(tot.Errors, r.Errors...)
		if r.Welcome.HeartbeatIntervalMS > 0 {
			tot.Welcome = r.Welcome
		}
	}
	tot.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "%s: %d connections open, %d failed, in %.1fs\n", role, tot.Opened, tot.Failed, tot.Seconds)
	if len(tot.Errors) > 0 {
		fmt.Fprintf(os.Stderr, "%s: first errors: %v\n", role, tot.Errors[:min(3, len(tot.Errors))])
	}
	return ws, tot, err
}

// splitUsers deals n users, a the template, to workers of at most
// perWorker each; worker i connects to node i % nodes. On one node each
// worker takes a contiguous range. On several, every node gets as many
// workers and the users are dealt round-robin, so the users a client
// watches (the next ones in the ring) are on other nodes, as they would be
// behind a load balancer.
func splitUsers(a openArgs, n, perWorker, nodes int) ([]openArgs, error) {
	nw := (n + perWorker - 1) / perWorker
	nw = (nw + nodes - 1) / nodes * nodes
	if n < nw {
		return nil, fmt.Errorf("%d connections for %d workers over %d nodes: want at least one each", n, nw, nodes)
	}
	args := make([]openArgs, nw)
	per := (len(a.Watch) + nw - 1) / nw
	for i := range args {
		args[i] = a
		args[i].First = i * n / nw
		args[i].Count = (i+1)*n/nw - args[i].First
		if nodes > 1 {
			args[i].First, args[i].Step = i, nw
			args[i].Count = (n - i + nw - 1) / nw
		}
		if len(a.Watch) > 0 {
			args[i].Watch = a.Watch[min(i*per, len(a.Watch)):min((i+1)*per, len(a.Watch))]
		}
	}
	return args, nil
}

// heartbeatAll sets the heartbeat rate of every worker in ws.
func heartbeatAll(ctx context.Context, ws []*worker, perSecond float64) error {
	_, err := callAll[any](ctx, ws, "heartbeat", map[string]float64{"per_second": perSecond})
	return err
}

// intervalRate is one heartbeat per announced interval.
func intervalRate(w welcomeInfo) float64 {
	if w.HeartbeatIntervalMS <= 0 {
		return 1.0 / 15
	}
	return 1000 / float64(w.HeartbeatIntervalMS)
}

// sumStats adds up the stats of a set of workers.
func sumStats(ctx context.Context, ws []*worker) (statsReply, error) {
	all, err := callAll[statsReply](ctx, ws, "stats", nil)
	tot := statsReply{Closes: map[string]int64{}, Errors: map[string]int64{}}
	for _, s := range all {
		tot.Open += s.Open
		tot.Conns += s.Conns
		tot.Heartbeats += s.Heartbeats
		tot.Received += s.Received
		tot.Updates += s.Updates
		tot.Changes += s.Changes
		tot.RecvBytes += s.RecvBytes
		tot.OfflineSeen += s.OfflineSeen
		tot.BackOnline += s.BackOnline
		tot.CPUSeconds += s.CPUSeconds
		for k, v := range s.Closes {
			tot.Closes[k] += v
		}
		for k, v := range s.Errors {
			tot.Errors[k] += v
		}
	}
	return tot, err
}

// sample reads the server process, if --server-pid was given.
func (e *env) sample() (procSample, bool) {
	if e.ServerPID == 0 {
		return procSample{}, false
	}
	s, err := sampleProc(e.ServerPID)
	if err != nil {
		fmt.Fprintf(os.Stderr, "reading server process %d: %v\n", e.ServerPID, err)
		return s, false
	}
	return s, true
}

// sleep waits for d or the end of ctx.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// addConnStats reports the closes and error replies clients saw.
func addConnStats(r *report, s statsReply) {
	for _, c := range []struct {
		key, what string
		counts    map[string]int64
	}{{"unexpected_closes", "server closes seen by clients, by code", s.Closes}, {"error_replies", "error replies by code", s.Errors}} {
		var n int64
		for _, v := range c.counts {
			n += v
		}
		r.add(c.key, n, "")
		if n > 0 {
			r.note("%s: %v", c.what, c.counts)
		}
	}
}
