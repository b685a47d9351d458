//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/redistest"
)

// idleCost runs the idle scenario --runs times, each against a fresh
// deployment it starts itself: presenced nodes on the embedded store, on
// one redis-server, or on a 3-master Redis Cluster. Every idle-cost figure
// of bench/README.md is one such command, so it can be re-measured after a
// change to the server by running the same line again.
type idleCost struct {
	store      string
	nodes      int
	runs       int
	bin        string
	out        string
	profileDir string
	checkModel bool
	checkFrom  string
	serverArgs string
}

func runIdleCost(ctx context.Context, args []string) error {
	var ic idleCost
	var sc idleScenario
	var c common
	fs := flag.NewFlagSet("idlecost", flag.ContinueOnError)
	c.register(fs)
	sc.register(fs)
	fs.StringVar(&ic.store, "store", "bolt", "the nodes' store: bolt (embedded, one node), redis (one redis-server) or cluster (a 3-master Redis Cluster)")
	fs.IntVar(&ic.nodes, "nodes", 1, "presenced processes (1–8; more than one needs redis or cluster)")
	fs.IntVar(&ic.runs, "runs", 3, "runs, each on a fresh deployment (results are medians)")
	fs.StringVar(&ic.bin, "server-bin", "bin/presenced", "presenced binary to start")
	fs.StringVar(&ic.out, "out", "", "append each run's JSON line to this file")
	fs.StringVar(&ic.profileDir, "profile-dir", "", "write the first run's CPU profile of the window and heap profile after it, per node, here")
	fs.BoolVar(&ic.checkModel, "check-model", false, "compare the medians with the capacity model's prediction for this deployment (docs/capacity.md)")
	fs.StringVar(&ic.checkFrom, "check-from", "", "measure nothing: take the runs of this deployment from a file written by --out and compare them with the model")
	fs.StringVar(&ic.serverArgs, "server-args", "", "extra presenced flags, space-separated")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := ic.validate(&sc); err != nil {
		return err
	}
	if ic.checkFrom != "" {
		reps, err := readIdleRuns(ic.checkFrom, ic.store, ic.nodes, sc.conns, sc.subs, sc.rate)
		if err != nil {
			return err
		}
		printMedians(os.Stderr, reps)
		return checkModel(os.Stdout, reps, ic.store, ic.nodes, sc.conns, sc.subs, sc.rate)
	}
	var outFile io.Writer = io.Discard
	if ic.out != "" {
		f, err := os.OpenFile(ic.out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		outFile = f
	}
	var reps []*report
	for i := range ic.runs {
		fmt.Fprintf(os.Stderr, "\n### idlecost (%s, %d node(s), %d sessions), run %d of %d\n", ic.store, ic.nodes, sc.conns, i+1, ic.runs)
		rep, err := ic.run(ctx, sc, c, i == 0 && ic.profileDir != "")
		if err != nil {
			return err
		}
		rep.param("store", ic.store)
		printReport(rep)
		outFile.Write(append(rep.JSON(), '\n'))
		reps = append(reps, rep)
	}
	fmt.Fprintf(os.Stderr, "\n### Medians of %d run(s)\n", ic.runs)
	printMedians(os.Stderr, reps)
	if ic.checkModel {
		return checkModel(os.Stdout, reps, ic.store, ic.nodes, sc.conns, sc.subs, sc.rate)
	}
	return nil
}

func (ic *idleCost) validate(sc *idleScenario) error {
	switch ic.store {
	case "bolt", "redis", "cluster":
	default:
		return fmt.Errorf("--store must be bolt, redis or cluster, not %q", ic.store)
	}
	if ic.nodes < 1 || ic.nodes > 8 {
		return errors.New("--nodes must be 1–8")
	}
	if ic.nodes > 1 && ic.store == "bolt" {
		return errors.New("--nodes above 1 needs --store redis or cluster: an embedded file belongs to one node")
	}
	if (ic.checkModel || ic.checkFrom != "") && ic.store == "bolt" {
		return errors.New("--check-model and --check-from need --store redis or cluster: the model sizes deployments on Redis")
	}
	if ic.runs < 1 || ic.runs > 9 {
		return errors.New("--runs must be 1–9")
	}
	if sc.redis != "" {
		return errors.New("--redis is not taken here: idlecost starts its own Redis")
	}
	if sc.conns < ic.nodes || sc.conns > maxConnections {
		return fmt.Errorf("--conns must be %d–%d", ic.nodes, maxConnections)
	}
	return nil
}

// deployment is what one run started: the Redis servers and the nodes.
type deployment struct {
	dir     string
	redis   *redistest.Server
	cluster *redistest.Cluster
	servers []*serverProc
	pprof   []string // each node's --pprof-addr, when profiling
}

func (d *deployment) stop() {
	for _, s := range d.servers {
		s.stop()
	}
	if d.redis != nil {
		d.redis.Kill()
	}
	if d.cluster != nil {
		d.cluster.Kill()
	}
	_ = os.RemoveAll(d.dir)
}

// start brings up the store and the nodes, and returns the Redis masters
// to count commands on.
func (ic *idleCost) start(ctx context.Context, profile bool) (*deployment, []string, error) {
	dir, err := os.MkdirTemp("", "presenced-idlecost-*")
	if err != nil {
		return nil, nil, err
	}
	d := &deployment{dir: dir}
	var redisURL string
	var addrs []string
	switch ic.store {
	case "redis":
		if d.redis, err = redistest.NewServer(filepath.Join(dir, "redis")); err != nil {
			d.stop()
			return nil, nil, err
		}
		redisURL, addrs = d.redis.URL(), []string{d.redis.Addr()}
	case "cluster":
		d.cluster, err = redistest.NewCluster(filepath.Join(dir, "cluster"), 3, 0)
		if err != nil {
			d.stop()
			return nil, nil, err
		}
		redisURL = d.cluster.URL()
		for _, m := range d.cluster.Masters() {
			addrs = append(addrs, m.Addr())
		}
	}
	for range ic.nodes {
		extra := strings.Fields(ic.serverArgs)
		if redisURL != "" {
			extra = append(extra, "--redis-url", redisURL)
		}
		if profile {
			addr, err := freeAddr()
			if err != nil {
				d.stop()
				return nil, nil, err
			}
			extra = append(extra, "--pprof-addr", addr)
			d.pprof = append(d.pprof, addr)
		}
		s, err := startServer(ctx, ic.bin, extra)
		if err != nil {
			d.stop()
			return nil, nil, err
		}
		d.servers = append(d.servers, s)
	}
	return d, addrs, nil
}

func (ic *idleCost) run(ctx context.Context, sc idleScenario, c common, profile bool) (*report, error) {
	d, addrs, err := ic.start(ctx, profile)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	sc.redis = strings.Join(addrs, ",")
	nodes := make([]nodeRef, len(d.servers))
	for i, s := range d.servers {
		nodes[i] = nodeRef{URL: "http://" + s.addr, PID: s.cmd.Process.Pid}
	}
	c.URL, c.ServerPID = nodes[0].URL, nodes[0].PID
	var profiles sync.WaitGroup
	if profile {
		sc.onHold = func(hold time.Duration) {
			// Leave a second for the window's last sample.
			secs := max(int((hold-time.Second)/time.Second), 1)
			for i, addr := range d.pprof {
				profiles.Add(1)
				go func() {
					defer profiles.Done()
					ic.saveProfile(ctx, addr, fmt.Sprintf("profile?seconds=%d", secs), fmt.Sprintf("cpu-node%d.pprof", i))
				}()
			}
		}
	}
	rep, err := runScenarioOn(ctx, "idle", &sc, c, nodes)
	profiles.Wait()
	if err != nil {
		return nil, fmt.Errorf("%w (server logs: %s)", err, d.logs())
	}
	if profile {
		for i, addr := range d.pprof {
			ic.saveProfile(ctx, addr, "heap?gc=1", fmt.Sprintf("heap-node%d.pprof", i))
		}
		rep.note("profiles in %s", ic.profileDir)
	}
	return rep, nil
}

func (d *deployment) logs() string {
	var ls []string
	for _, s := range d.servers {
		ls = append(ls, s.logPath)
	}
	return strings.Join(ls, ", ")
}

// saveProfile fetches one pprof profile into --profile-dir; a failure is
// reported and does not end the run.
func (ic *idleCost) saveProfile(ctx context.Context, addr, query, name string) {
	err := func() error {
		if err := os.MkdirAll(ic.profileDir, 0o755); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/debug/pprof/"+query, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		f, err := os.Create(filepath.Join(ic.profileDir, name))
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}()
	if err != nil {
		fmt.Fprintf(os.Stderr, "profile %s from %s: %v\n", query, addr, err)
		return
	}
	fmt.Fprintf(os.Stderr, "profile written: %s\n", filepath.Join(ic.profileDir, name))
}
