//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

// idleScenario holds N presence sessions, each watching K others and
// heartbeating at the announced interval, and reads what they cost the
// server. Run it against a freshly started server: the RSS before the
// connections is the baseline.
type idleScenario struct {
	conns  int
	subs   int
	settle time.Duration
	hold   time.Duration
}

func (s *idleScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.conns, "conns", 10000, "connections (each a presence session of its own user)")
	fs.IntVar(&s.subs, "subs", 10, "users each connection watches (the next ones in a ring)")
	fs.DurationVar(&s.settle, "settle", 5*time.Second, "wait after the last connection opened before measuring")
	fs.DurationVar(&s.hold, "hold", 30*time.Second, "how long the connections are held while CPU is measured")
}

func (s *idleScenario) run(ctx context.Context, e *env) (*report, error) {
	r := newReport("idle", e.runID)
	r.param("conns", s.conns)
	r.param("subs", s.subs)
	r.param("hold_s", s.hold.Seconds())
	if s.subs >= s.conns {
		return nil, fmt.Errorf("--subs must be less than --conns")
	}
	before, haveProc := e.sample()
	ws, op, err := e.population(ctx, "u", s.conns, openArgs{Session: true, Ring: s.subs})
	if err != nil {
		return nil, err
	}
	if err := heartbeatAll(ctx, ws, intervalRate(op.Welcome)); err != nil {
		return nil, err
	}
	r.param("heartbeat_interval_ms", op.Welcome.HeartbeatIntervalMS)
	if err := sleep(ctx, s.settle); err != nil {
		return nil, err
	}
	s1, _ := e.sample()
	st1, err := sumStats(ctx, ws)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "idle: holding %d connections for %s\n", st1.Open, s.hold)
	if err := sleep(ctx, s.hold); err != nil {
		return nil, err
	}
	s2, _ := e.sample()
	st2, err := sumStats(ctx, ws)
	if err != nil {
		return nil, err
	}

	r.add("connections_held", st2.Open, "")
	r.add("connect_failures", op.Failed, "")
	r.add("connect_seconds", op.Seconds, "s")
	r.add("heartbeats_during_hold", st2.Heartbeats-st1.Heartbeats, "")
	if haveProc && st2.Open > 0 {
		delta := s2.RSS - before.RSS
		perConn := float64(delta) / float64(st2.Open)
		r.add("server_rss_before", before.RSS, "B")
		r.add("server_rss_after", s2.RSS, "B")
		r.add("server_rss_delta_per_conn", perConn, "B")
		r.add("server_rss_anon_delta_per_conn", float64(s2.RSSAnon-before.RSSAnon)/float64(st2.Open), "B")
		hold := s2.At.Sub(s1.At)
		r.add("server_cpu_during_hold", 100*float64(s2.CPU-s1.CPU)/float64(hold), "% of a core")
		if s.conns >= 10000 && s.subs >= 10 {
			r.check("memory per idle connection (10 subscriptions, 10,000+ connections)", perConn, "<=", 4096, "B")
		}
	} else {
		r.note("no --server-pid: server memory and CPU not measured")
	}
	addConnStats(r, st2)
	return r, nil
}
