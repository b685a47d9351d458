//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// idleScenario holds N presence sessions, each watching K others and
// heartbeating at the announced interval, and reads what they cost in a
// steady-state window: the servers' memory and CPU, the embedded store's
// page writes, and, given the Redis servers, the commands they execute.
// Run it against freshly started servers: what they hold before the
// connections is the baseline.
type idleScenario struct {
	conns  int
	subs   int
	settle time.Duration
	hold   time.Duration
	redis  string
	rate   float64
	// onHold, when set, is called as the measurement window opens, with
	// its length (idlecost takes its CPU profile then).
	onHold func(time.Duration)
}

func (s *idleScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.conns, "conns", 10000, "connections (each a presence session of its own user), over every node")
	fs.IntVar(&s.subs, "subs", 10, "users each connection watches (the next ones in a ring)")
	fs.DurationVar(&s.settle, "settle", 5*time.Second, "wait after the last connection opened before measuring")
	fs.DurationVar(&s.hold, "hold", 30*time.Second, "the measurement window: how long the connections are held while CPU, store commands and writes are counted")
	fs.Float64Var(&s.rate, "changes-per-s", 0, "status changes per second over all sessions (custom status, one session after the other); 0 keeps them idle")
	fs.StringVar(&s.redis, "redis", "", "comma-separated host:port of the Redis servers whose INFO commandstats to count (every master of a cluster); contacted besides --url")
}

// nodeSample is one node at one moment: its process and its metrics.
type nodeSample struct {
	proc    procSample
	hasProc bool
	metrics map[string]float64 // nil when /metrics could not be read
}

// sampleNodes reads every node; a node that cannot be read is reported and
// left without figures, so one bad sample does not end a long run.
func (e *env) sampleNodes() []nodeSample {
	out := make([]nodeSample, len(e.nodes))
	for i, n := range e.nodes {
		if n.PID != 0 {
			p, err := sampleProc(n.PID)
			if err != nil {
				fmt.Fprintf(os.Stderr, "reading server process %d: %v\n", n.PID, err)
			}
			out[i].proc, out[i].hasProc = p, err == nil
		}
		m, err := scrapeMetrics(n.URL)
		if err != nil {
			fmt.Fprintf(os.Stderr, "reading %s/metrics: %v\n", n.URL, err)
		}
		out[i].metrics = m
	}
	return out
}

// redisAddrs returns the --redis addresses, or nil.
func (s *idleScenario) redisAddrs() []string {
	if s.redis == "" {
		return nil
	}
	return strings.Split(s.redis, ",")
}

func (s *idleScenario) run(ctx context.Context, e *env) (*report, error) {
	r := newReport("idle", e.runID)
	r.param("nodes", len(e.nodes))
	r.param("conns", s.conns)
	r.param("subs", s.subs)
	r.param("settle_s", s.settle.Seconds())
	r.param("hold_s", s.hold.Seconds())
	r.param("changes_per_s", s.rate)
	if s.subs >= s.conns {
		return nil, fmt.Errorf("--subs must be less than --conns")
	}
	if s.rate < 0 || s.rate > float64(s.conns) {
		return nil, fmt.Errorf("--changes-per-s must be 0–%d (one a second per session)", s.conns)
	}
	addrs := s.redisAddrs()
	var redis0 redisSample
	if len(addrs) > 0 {
		var err error
		if redis0, err = sampleRedis(addrs); err != nil {
			return nil, err
		}
	}
	before := e.sampleNodes()
	ws, op, err := e.population(ctx, "u", s.conns, openArgs{Session: true, Ring: s.subs})
	if err != nil {
		return nil, err
	}
	if err := heartbeatAll(ctx, ws, intervalRate(op.Welcome)); err != nil {
		return nil, err
	}
	r.param("heartbeat_interval_ms", op.Welcome.HeartbeatIntervalMS)
	if s.rate > 0 {
		if _, err := callAll[any](ctx, ws, "change_status", map[string]float64{"per_second": s.rate / float64(len(ws))}); err != nil {
			return nil, err
		}
	}
	if err := sleep(ctx, s.settle); err != nil {
		return nil, err
	}
	w1, err := s.window(ctx, e, ws, addrs)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "idle: holding %d connections on %d node(s) for %s\n", w1.stats.Open, len(e.nodes), s.hold)
	if s.onHold != nil {
		s.onHold(s.hold)
	}
	if err := sleep(ctx, s.hold); err != nil {
		return nil, err
	}
	w2, err := s.window(ctx, e, ws, addrs)
	if err != nil {
		return nil, err
	}

	held := w2.stats.Open
	r.add("connections_held", held, "")
	r.add("connect_failures", op.Failed, "")
	r.add("connect_seconds", op.Seconds, "s")
	r.add("heartbeats_during_hold", w2.stats.Heartbeats-w1.stats.Heartbeats, "")
	if secs := w2.at.Sub(w1.at).Seconds(); s.rate > 0 {
		updates := w2.stats.Updates - w1.stats.Updates
		r.add("changes_sent_per_s", float64(w2.stats.Changes-w1.stats.Changes)/secs, "/s")
		r.add("updates_received_per_s", float64(updates)/secs, "/s")
		if updates > 0 {
			// Acks of the changes are counted in too: a few bytes per change.
			r.add("received_bytes_per_update", float64(w2.stats.RecvBytes-w1.stats.RecvBytes)/float64(updates), "B")
		}
	}
	if held > 0 {
		s.addServer(r, before, w1, w2, held, len(e.nodes))
		if len(addrs) > 0 {
			addRedis(r, redis0, w1, w2, held)
		}
	}
	addConnStats(r, w2.stats)
	return r, nil
}

// idleWindow is one end of the measurement window.
type idleWindow struct {
	at    time.Time
	nodes []nodeSample
	redis redisSample
	stats statsReply
}

// window samples one end of the measurement window: Redis first, then the
// nodes and the clients, so that the window's length is Redis's.
func (s *idleScenario) window(ctx context.Context, e *env, ws []*worker, addrs []string) (idleWindow, error) {
	w := idleWindow{at: time.Now()}
	var err error
	if len(addrs) > 0 {
		if w.redis, err = sampleRedis(addrs); err != nil {
			return w, err
		}
	}
	w.nodes = e.sampleNodes()
	w.stats, err = sumStats(ctx, ws)
	return w, err
}

// addServer reports the nodes' memory per session (from before the
// connections to the end of the window), their CPU and the embedded
// store's writes over the window.
func (s *idleScenario) addServer(r *report, before []nodeSample, w1, w2 idleWindow, held int64, nodes int) {
	perConn := func(x float64) float64 { return x / float64(held) }
	var rss0, rss, anon0, anon int64
	var cpu, sys time.Duration
	var hold time.Duration
	procs := 0
	for i := range before {
		b, a, c := before[i], w1.nodes[i], w2.nodes[i]
		if !b.hasProc || !a.hasProc || !c.hasProc {
			continue
		}
		procs++
		rss0, rss = rss0+b.proc.RSS, rss+c.proc.RSS
		anon0, anon = anon0+b.proc.RSSAnon, anon+c.proc.RSSAnon
		cpu += c.proc.CPU - a.proc.CPU
		sys += c.proc.SysCPU - a.proc.SysCPU
		hold = c.proc.At.Sub(a.proc.At)
	}
	if procs == nodes && hold > 0 {
		r.add("server_rss_before", rss0, "B")
		r.add("server_rss_after", rss, "B")
		r.add("server_rss_after_per_node", float64(rss)/float64(nodes), "B")
		r.add("server_rss_delta_per_conn", perConn(float64(rss-rss0)), "B")
		r.add("server_rss_anon_delta_per_conn", perConn(float64(anon-anon0)), "B")
		cpuPct := 100 * float64(cpu) / float64(hold)
		r.add("server_cpu_during_hold", cpuPct, "% of a core")
		r.add("server_cpu_per_node", cpuPct/float64(nodes), "% of a core")
		if cpu > 0 {
			r.add("server_cpu_kernel_share", 100*float64(sys)/float64(cpu), "% of its CPU")
		}
		if nodes == 1 && s.conns >= 10000 && s.subs >= 10 {
			r.check("memory per idle connection (10 subscriptions, 10,000+ connections)", perConn(float64(rss-rss0)), "<=", 4096, "B")
			r.check("server CPU holding 10,000+ idle sessions", cpuPct, "<=", 3, "% of a core")
		}
	} else {
		r.note("no --server-pid for every node: server memory and CPU not measured")
	}
	heap, ok := sumMetric([][]nodeSample{before, w2.nodes}, "go_memstats_heap_inuse_bytes")
	if ok {
		r.add("server_heap_inuse_delta_per_conn", perConn(heap[1]-heap[0]), "B")
	}
	if pw, ok := sumMetric([][]nodeSample{w1.nodes, w2.nodes}, "presenced_bolt_page_writes_total"); ok {
		minutes := w2.at.Sub(w1.at).Minutes()
		r.add("bolt_page_writes_per_conn_per_min", perConn(pw[1]-pw[0])/minutes, "")
		if rc, ok := sumMetric([][]nodeSample{w1.nodes, w2.nodes}, "presenced_bolt_record_changes_total"); ok {
			r.add("bolt_record_changes_per_conn_per_min", perConn(rc[1]-rc[0])/minutes, "")
		}
		if cm, ok := sumMetric([][]nodeSample{w1.nodes, w2.nodes}, "presenced_bolt_commits_total"); ok {
			r.add("bolt_commits_per_s", (cm[1]-cm[0])/w2.at.Sub(w1.at).Seconds(), "/s")
		}
		r.check("bolt page writes per idle session per minute", perConn(pw[1]-pw[0])/minutes, "<=", 0, "")
	}
}

// sumMetric adds up a metric over the nodes of each sample set; false when
// a node lacks it (another store, or /metrics unreadable).
func sumMetric(sets [][]nodeSample, name string) ([]float64, bool) {
	out := make([]float64, len(sets))
	for i, set := range sets {
		for _, n := range set {
			v, ok := n.metrics[name]
			if !ok {
				return nil, false
			}
			out[i] += v
		}
	}
	return out, true
}

// addRedis reports the commands the Redis servers executed in the window,
// in total and by command, their network traffic, and the memory Redis
// holds per session since before the connections.
func addRedis(r *report, start redisSample, w1, w2 idleWindow, held int64) {
	d := w2.redis.sub(w1.redis)
	secs := w2.at.Sub(w1.at).Seconds()
	total := float64(d.total()) / secs
	r.add("redis_commands_per_s", total, "/s")
	r.add("redis_commands_per_conn_per_s", total/float64(held), "/s")
	r.add("redis_net_bytes_per_s", float64(d.NetIn+d.NetOut)/secs, "B/s")
	r.add("redis_cpu", 100*d.CPU/secs, "% of a core")
	if n := d.total(); n > 0 {
		r.add("redis_usec_per_command", float64(d.Usec)/float64(n), "µs")
	}
	r.add("redis_memory_per_conn", float64(w2.redis.UsedMemory-start.UsedMemory)/float64(held), "B")
	cmds := make([]string, 0, len(d.Calls))
	for k := range d.Calls {
		cmds = append(cmds, k)
	}
	sort.Strings(cmds)
	for _, k := range cmds {
		r.add("redis_"+k+"_per_s", float64(d.Calls[k])/secs, "/s")
	}
	r.note("redis commands in the window: %s", d.byCount())
	if held >= 15000 {
		r.check("Redis commands/s in steady state, 15,000+ idle sessions", total, "<=", 50, "/s")
	}
}
