//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

// heartbeatScenario has N sessions heartbeat as fast as the server's rate
// limit allows and divides the server's CPU time by the heartbeats sent.
// The server's CPU with the same connections heartbeating at the announced
// interval is measured first and reported as the baseline.
type heartbeatScenario struct {
	conns    int
	rate     float64
	duration time.Duration
	baseline time.Duration
}

func (s *heartbeatScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.conns, "conns", 2000, "heartbeating sessions")
	fs.Float64Var(&s.rate, "rate", 20, "heartbeats per second per session (the server's --rate-limit is 20 by default)")
	fs.DurationVar(&s.duration, "duration", 20*time.Second, "measurement window")
	fs.DurationVar(&s.baseline, "baseline", 10*time.Second, "window measured first, heartbeating at the announced interval")
}

func (s *heartbeatScenario) run(ctx context.Context, e *env) (*report, error) {
	r := newReport("heartbeat", e.runID)
	r.param("conns", s.conns)
	r.param("rate_per_conn", s.rate)
	r.param("duration_s", s.duration.Seconds())
	if s.rate <= 0 || s.rate > 1000 {
		return nil, fmt.Errorf("--rate must be above 0 and at most 1,000 per second")
	}
	if e.ServerPID == 0 {
		return nil, fmt.Errorf("heartbeat needs --server-pid to read the server's CPU time")
	}
	ws, op, err := e.population(ctx, "u", s.conns, openArgs{Session: true})
	if err != nil {
		return nil, err
	}
	if err := heartbeatAll(ctx, ws, intervalRate(op.Welcome)); err != nil {
		return nil, err
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	b1, _ := e.sample()
	if err := sleep(ctx, s.baseline); err != nil {
		return nil, err
	}
	b2, _ := e.sample()
	baseRate := float64(b2.CPU-b1.CPU) / float64(b2.At.Sub(b1.At)) // CPU seconds per second

	fmt.Fprintf(os.Stderr, "heartbeat: %d sessions at %g/s each for %s\n", op.Opened, s.rate, s.duration)
	if err := heartbeatAll(ctx, ws, s.rate); err != nil {
		return nil, err
	}
	if err := sleep(ctx, 2*time.Second); err != nil { // ramp
		return nil, err
	}
	s1, _ := e.sample()
	h1, err := sumStats(ctx, ws)
	if err != nil {
		return nil, err
	}
	if err := sleep(ctx, s.duration); err != nil {
		return nil, err
	}
	s2, _ := e.sample()
	h2, err := sumStats(ctx, ws)
	if err != nil {
		return nil, err
	}
	if err := heartbeatAll(ctx, ws, 0); err != nil {
		return nil, err
	}
	beats := float64(h2.Heartbeats - h1.Heartbeats)
	window := s2.At.Sub(s1.At)
	cpu := s2.CPU - s1.CPU
	perBeat := float64(cpu) / 1e3 / beats
	net := (float64(cpu) - baseRate*float64(window)) / 1e3 / beats
	r.add("sessions", op.Opened, "")
	r.add("heartbeats", int64(beats), "")
	r.add("heartbeats_per_sec", beats/window.Seconds(), "1/s")
	r.add("server_cpu", 100*float64(cpu)/float64(window), "% of a core")
	r.add("server_cpu_baseline", 100*baseRate, "% of a core")
	r.add("cpu_per_heartbeat", perBeat, "µs")
	r.add("cpu_per_heartbeat_over_baseline", net, "µs")
	r.check("server CPU per heartbeat", perBeat, "<=", 5, "µs")
	addConnStats(r, h2)
	if n := h2.Errors["rate_limited"]; n > 0 {
		r.note("%d heartbeats were refused as rate_limited: lower --rate", n)
	}
	return r, nil
}
