//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
)

// detectScenario measures how long subscribers wait for offline after a
// client leaves: clients that close cleanly (offline is due at close +
// grace) and clients that go silent (offline is due at their last sign of
// life + TTL). The silent clients live in their own worker processes,
// which are stopped with SIGSTOP: their sockets stay open and the kernel
// keeps acknowledging, but nothing answers a ping. Run the server with a
// short --heartbeat-ttl and --offline-grace to keep the run short.
type detectScenario struct {
	clean   int
	silent  int
	timeout time.Duration
}

func (s *detectScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.clean, "clean", 500, "clients that close cleanly")
	fs.IntVar(&s.silent, "silent", 500, "clients that go silent (their process is stopped)")
	fs.DurationVar(&s.timeout, "slack", 10*time.Second, "wait this long past the later of the grace and TTL deadlines before giving up")
}

func (s *detectScenario) run(ctx context.Context, e *env) (*report, error) {
	r := newReport("detect", e.runID)
	r.param("clean", s.clean)
	r.param("silent", s.silent)
	if s.clean < 1 || s.silent < 1 {
		return nil, fmt.Errorf("--clean and --silent must be at least 1")
	}
	cleanW, op, err := e.population(ctx, "c", s.clean, openArgs{Session: true})
	if err != nil {
		return nil, err
	}
	silentW, _, err := e.population(ctx, "s", s.silent, openArgs{Session: true})
	if err != nil {
		return nil, err
	}
	// Whatever happens, the stopped workers are resumed and ended.
	defer func() {
		for _, w := range silentW {
			_ = w.signal(syscall.SIGCONT)
			w.kill()
		}
	}()
	var users []string
	for i := range s.clean {
		users = append(users, fmt.Sprintf("%s-%d", e.prefix("c"), i))
	}
	for i := range s.silent {
		users = append(users, fmt.Sprintf("%s-%d", e.prefix("s"), i))
	}
	obs, _, err := e.population(ctx, "o", (len(users)+usersPerObserver-1)/usersPerObserver, openArgs{Watch: users})
	if err != nil {
		return nil, err
	}
	w := op.Welcome
	grace := time.Duration(w.OfflineGraceMS) * time.Millisecond
	ttl := time.Duration(w.HeartbeatTTLMS) * time.Millisecond
	r.param("offline_grace_s", grace.Seconds())
	r.param("heartbeat_ttl_s", ttl.Seconds())
	r.param("heartbeat_interval_s", float64(w.HeartbeatIntervalMS)/1000)
	if err := heartbeatAll(ctx, append(cleanW, silentW...), intervalRate(w)); err != nil {
		return nil, err
	}
	// Let every session show online and heartbeat at least once.
	if err := sleep(ctx, time.Duration(w.HeartbeatIntervalMS)*time.Millisecond+500*time.Millisecond); err != nil {
		return nil, err
	}
	expect := 0
	counts, err := callAll[statsReply](ctx, append(cleanW, silentW...), "stats", nil)
	if err != nil {
		return nil, err
	}
	for _, c := range counts {
		expect += int(c.Open)
	}
	if _, err := callAll[any](ctx, obs, "arm", nil); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "detect: stopping %d silent clients, closing %d cleanly (grace %s, TTL %s)\n", s.silent, s.clean, grace, ttl)
	stopAt := time.Now()
	for _, w := range silentW {
		if err := w.signal(syscall.SIGSTOP); err != nil {
			return nil, err
		}
	}
	closed, err := callAll[map[string]int64](ctx, cleanW, "close", map[string]bool{"clean": true})
	if err != nil {
		return nil, err
	}
	closeAt := map[string]int64{}
	for _, m := range closed {
		for u, t := range m {
			closeAt[u] = t
		}
	}
	wait := max(grace, ttl) + s.timeout
	deadline := time.Now().Add(wait)
	for {
		seen, err := e.offlineSeen(ctx, obs)
		if err != nil {
			return nil, err
		}
		if len(seen) >= expect || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
	for _, w := range silentW {
		_ = w.signal(syscall.SIGCONT)
	}
	seen, err := e.offlineSeen(ctx, obs)
	if err != nil {
		return nil, err
	}

	var cleanLate, silentLate, silentFromStop []float64
	for u, o := range seen {
		if t, ok := closeAt[u]; ok {
			cleanLate = append(cleanLate, nsToMS(o.RecvNS-t)-ms(grace))
			continue
		}
		if o.LastSeenMS == 0 {
			continue
		}
		silentLate = append(silentLate, nsToMS(o.RecvNS-o.LastSeenMS*1e6)-ms(ttl))
		silentFromStop = append(silentFromStop, nsToMS(o.RecvNS-stopAt.UnixNano()))
	}
	r.add("clean_closed", len(closeAt), "")
	r.add("clean_offline_seen", len(cleanLate), "")
	r.add("clean_after_grace_p50", percentile(cleanLate, 50), "ms")
	r.add("clean_after_grace_p99", percentile(cleanLate, 99), "ms")
	r.add("clean_after_grace_max", percentile(cleanLate, 100), "ms")
	r.add("silent_stopped", s.silent, "")
	r.add("silent_offline_seen", len(silentLate), "")
	r.add("silent_after_ttl_p50", percentile(silentLate, 50), "ms")
	r.add("silent_after_ttl_p99", percentile(silentLate, 99), "ms")
	r.add("silent_after_ttl_max", percentile(silentLate, 100), "ms")
	r.add("silent_from_stop_p50", percentile(silentFromStop, 50), "ms")
	r.add("silent_from_stop_max", percentile(silentFromStop, 100), "ms")
	r.check("offline after clean close: grace + p99", percentile(cleanLate, 99), "<=", 250, "ms")
	r.check("offline after silent death: TTL + p99", percentile(silentLate, 99), "<=", 1000, "ms")
	if len(cleanLate) < len(closeAt) || len(silentLate) < s.silent {
		r.note("some clients were never seen going offline within %s", wait)
	}
	ost, err := sumStats(ctx, obs)
	if err != nil {
		return nil, err
	}
	addConnStats(r, ost)
	return r, nil
}

// offlineSeen merges the observers' first offline of each user.
func (e *env) offlineSeen(ctx context.Context, obs []*worker) (map[string]offlineSeen, error) {
	reps, err := callAll[map[string]offlineSeen](ctx, obs, "watch_report", nil)
	out := map[string]offlineSeen{}
	for _, m := range reps {
		for u, o := range m {
			out[u] = o
		}
	}
	return out, err
}
