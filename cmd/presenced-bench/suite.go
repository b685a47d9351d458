//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// suiteCase is one scenario of the suite with its arguments and the server
// flags it needs on top of the defaults.
type suiteCase struct {
	name       string
	args       []string
	serverArgs []string
}

// suiteCases returns the suite at a size: "full" is the size the targets
// are stated at; "core" measures idle memory without subscriptions and
// fan-out to 1,000 subscribers; "quick" checks that everything runs.
func suiteCases(size string) ([]suiteCase, error) {
	// detect runs against short timings so that it takes seconds, not a
	// minute; the measured lateness does not depend on their length.
	detectServer := []string{"--heartbeat-interval", "1s", "--heartbeat-ttl", "3s", "--offline-grace", "2s"}
	switch size {
	case "full":
		return []suiteCase{
			{name: "idle", args: []string{"--conns", "10000", "--subs", "10", "--settle", "5s", "--hold", "20s"}},
			{name: "fanout", args: []string{"--subscribers", "10000", "--changes", "30"}},
			{name: "heartbeat", args: []string{"--conns", "2000", "--rate", "20", "--duration", "15s", "--baseline", "5s"}},
			{name: "churn", args: []string{"--conns", "10000", "--subs", "10", "--window", "2s", "--storms", "2"}},
			{name: "detect", args: []string{"--clean", "500", "--silent", "500"}, serverArgs: detectServer},
			{name: "bulk", args: []string{"--users", "1000", "--requests", "1000"}},
		}, nil
	case "core":
		// The two figures the core server's issue asks for.
		return []suiteCase{
			{name: "idle", args: []string{"--conns", "10000", "--subs", "0", "--settle", "5s", "--hold", "20s"}},
			{name: "fanout", args: []string{"--subscribers", "1000", "--changes", "30"}},
		}, nil
	case "quick":
		return []suiteCase{
			{name: "idle", args: []string{"--conns", "500", "--subs", "10", "--settle", "1s", "--hold", "2s"}},
			{name: "fanout", args: []string{"--subscribers", "500", "--changes", "5"}},
			{name: "heartbeat", args: []string{"--conns", "200", "--rate", "20", "--duration", "2s", "--baseline", "1s"}},
			{name: "churn", args: []string{"--conns", "500", "--subs", "5", "--window", "1s", "--storms", "2"}},
			{name: "detect", args: []string{"--clean", "50", "--silent", "50"}, serverArgs: detectServer},
			{name: "bulk", args: []string{"--users", "1000", "--requests", "50", "--warmup", "5"}},
		}, nil
	}
	return nil, fmt.Errorf("--size must be full, core or quick, not %q", size)
}

// runSuite runs every scenario against servers it starts itself: a fresh
// presenced for each run, on a free port of 127.0.0.1, stopped afterwards.
func runSuite(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	bin := fs.String("server-bin", "bin/presenced", "presenced binary to start for each run")
	runs := fs.Int("runs", 3, "runs of each scenario (results are medians)")
	size := fs.String("size", "full", "full (the targets' sizes), core (idle without subscriptions, fan-out to 1,000) or quick")
	only := fs.String("only", "", "comma-separated scenarios to run (default: all)")
	out := fs.String("out", "", "append each run's JSON line to this file")
	var c common
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *runs < 1 || *runs > 9 {
		return errors.New("--runs must be 1–9")
	}
	cases, err := suiteCases(*size)
	if err != nil {
		return err
	}
	if *only != "" {
		want := strings.Split(*only, ",")
		cases = slices.DeleteFunc(cases, func(sc suiteCase) bool { return !slices.Contains(want, sc.name) })
	}
	var outFile io.Writer = io.Discard
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		outFile = f
	}
	start := time.Now()
	results := map[string][]*report{}
	for _, sc := range cases {
		for i := range *runs {
			fmt.Fprintf(os.Stderr, "\n### %s, run %d of %d (%.0fs into the suite)\n", sc.name, i+1, *runs, time.Since(start).Seconds())
			rep, err := suiteRun(ctx, *bin, sc, c)
			if err != nil {
				return err
			}
			printReport(rep)
			outFile.Write(append(rep.JSON(), '\n'))
			results[sc.name] = append(results[sc.name], rep)
		}
	}
	fmt.Fprintf(os.Stderr, "\n### Medians of %d run(s), suite took %.0fs\n", *runs, time.Since(start).Seconds())
	for _, sc := range cases {
		printMedians(os.Stderr, results[sc.name])
	}
	return nil
}

func suiteRun(ctx context.Context, bin string, sc suiteCase, c common) (*report, error) {
	srv, err := startServer(ctx, bin, sc.serverArgs)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c.URL = "http://" + srv.addr
	c.ServerPID = srv.cmd.Process.Pid
	s := scenarios[sc.name]()
	fs := flag.NewFlagSet(sc.name, flag.ContinueOnError)
	var ignored common
	ignored.register(fs)
	s.register(fs)
	if err := fs.Parse(sc.args); err != nil {
		return nil, err
	}
	rep, err := runScenario(ctx, sc.name, s, c)
	if err != nil {
		return nil, fmt.Errorf("%w (server log: %s)", err, srv.logPath)
	}
	return rep, nil
}

// printMedians writes the median of every numeric result over the runs.
func printMedians(w io.Writer, reps []*report) {
	if len(reps) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "== %s (median of %d)\n", reps[0].Scenario, len(reps))
	for _, x := range reps[0].Results {
		var vals []float64
		for _, r := range reps {
			if v, ok := r.value(x.Key); ok {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", x.Key, formatValue(round(median(vals), 3)), x.Unit, vals)
	}
	for i, t := range reps[0].Targets {
		var vals []float64
		for _, r := range reps {
			if i < len(r.Targets) {
				vals = append(vals, r.Targets[i].Value)
			}
		}
		m := median(vals)
		verdict := "MET"
		if (t.Op == "<=" && m > t.Limit) || (t.Op == ">=" && m < t.Limit) {
			verdict = "MISSED"
		}
		fmt.Fprintf(tw, "target: %s\t%s %s %s %s\t%s\n", t.Name, formatValue(round(m, 3)), t.Op, formatValue(t.Limit), t.Unit, verdict)
	}
	tw.Flush()
}

// serverProc is a presenced the suite started.
type serverProc struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	dataDir string
	exited  chan struct{}
}

func startServer(ctx context.Context, bin string, extra []string) (*serverProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.CreateTemp("", "presenced-bench-server-*.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// Every run starts from an empty database of its own.
	dataDir, err := os.MkdirTemp("", "presenced-bench-data-*")
	if err != nil {
		return nil, err
	}
	args := append([]string{"--dev", "--addr", addr, "--log-level", "warn", "--data-dir", dataDir}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s := &serverProc{cmd: cmd, addr: addr, logPath: logf.Name(), dataDir: dataDir, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	fmt.Fprintf(os.Stderr, "server: %s %s (pid %d, log %s)\n", bin, strings.Join(args, " "), cmd.Process.Pid, s.logPath)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server exited at start; see %s", s.logPath)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("server not healthy after 15s; see %s", s.logPath)
		}
	}
}

// stop ends the server with SIGTERM, or SIGKILL after 20s.
func (s *serverProc) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	_ = os.RemoveAll(s.dataDir)
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
