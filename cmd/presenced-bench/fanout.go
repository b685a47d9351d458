//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

// fanoutScenario has one user with S subscribers change status R times,
// one change at a time, and times each change from the publisher's send to
// every subscriber's receipt.
type fanoutScenario struct {
	subscribers int
	changes     int
	pause       time.Duration
	timeout     time.Duration
}

func (s *fanoutScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.subscribers, "subscribers", 10000, "subscriber connections (each a presence session watching the publisher)")
	fs.IntVar(&s.changes, "changes", 30, "status changes the publisher makes")
	fs.DurationVar(&s.pause, "pause", 200*time.Millisecond, "pause between one change reaching everyone and the next")
	fs.DurationVar(&s.timeout, "change-timeout", 10*time.Second, "give up waiting for a change to reach everyone after this long")
}

func (s *fanoutScenario) run(ctx context.Context, e *env) (*report, error) {
	r := newReport("fanout", e.runID)
	r.param("subscribers", s.subscribers)
	r.param("changes", s.changes)
	if s.changes < 1 || s.changes > 10000 {
		return nil, fmt.Errorf("--changes must be 1–10,000")
	}
	pubWorkers, _, err := e.population(ctx, "p", 1, openArgs{Session: true})
	if err != nil {
		return nil, err
	}
	pub := pubWorkers[0]
	publisher := e.prefix("p") + "-0"
	subs, op, err := e.population(ctx, "u", s.subscribers, openArgs{Session: true, Also: []string{publisher}})
	if err != nil {
		return nil, err
	}
	if err := heartbeatAll(ctx, append(subs, pub), intervalRate(op.Welcome)); err != nil {
		return nil, err
	}
	counts, err := callAll[statsReply](ctx, subs, "stats", nil)
	if err != nil {
		return nil, err
	}
	expect := 0
	for i, w := range subs {
		if err := w.call(ctx, "fan_arm", fanArmArgs{Expect: int(counts[i].Open)}, nil); err != nil {
			return nil, err
		}
		expect += int(counts[i].Open)
	}
	fmt.Fprintf(os.Stderr, "fanout: %d changes to %d subscribers\n", s.changes, expect)
	srv1, _ := e.sample()
	timeouts := 0
	for i := range s.changes {
		status := "busy"
		if i%2 == 1 {
			status = "away"
		}
		if err := pub.call(ctx, "publish", publishArgs{Change: i, Status: status}, nil); err != nil {
			return nil, err
		}
		if !e.waitEvents(ctx, "fanout_done", i, len(subs), s.timeout) {
			timeouts++
		}
		if err := sleep(ctx, s.pause); err != nil {
			return nil, err
		}
	}

	srv2, haveProc := e.sample()
	reports, err := callAll[map[int][]int64](ctx, subs, "fan_report", nil)
	if err != nil {
		return nil, err
	}
	var lasts, all, rates []float64
	delivered := 0
	for i := range s.changes {
		var last int64
		n := 0
		for _, rep := range reports {
			for _, ns := range rep[i] {
				all = append(all, nsToMS(ns))
				last = max(last, ns)
				n++
			}
		}
		delivered += n
		if n == expect && last > 0 {
			lasts = append(lasts, nsToMS(last))
			rates = append(rates, float64(n)/(float64(last)/1e9))
		}
	}
	st, err := sumStats(ctx, subs)
	if err != nil {
		return nil, err
	}
	r.add("subscribers_connected", expect, "")
	r.add("changes_complete", len(lasts), "")
	r.add("deliveries", delivered, "")
	r.add("deliveries_missing", s.changes*expect-delivered, "")
	r.add("last_subscriber_p50", percentile(lasts, 50), "ms")
	r.add("last_subscriber_p99", percentile(lasts, 99), "ms")
	r.add("last_subscriber_max", percentile(lasts, 100), "ms")
	r.add("delivery_p50", percentile(all, 50), "ms")
	r.add("delivery_p99", percentile(all, 99), "ms")
	r.add("deliveries_per_sec", median(rates), "1/s")
	if haveProc {
		r.add("server_cpu_per_delivery", float64(srv2.CPU-srv1.CPU)/1e3/float64(max(delivered, 1)), "µs")
	}
	r.add("client_cpu_per_delivery", (st.CPUSeconds-counts0CPU(counts))*1e6/float64(max(delivered, 1)), "µs")
	if timeouts > 0 {
		r.note("%d changes did not reach every subscriber within %s", timeouts, s.timeout)
	}
	if s.subscribers >= 10000 {
		r.check("status change → last of 10,000 subscribers, p99", percentile(lasts, 99), "<=", 50, "ms")
		r.check("deliveries per second in fan-out", median(rates), ">=", 300000, "1/s")
	}
	addConnStats(r, st)
	return r, nil
}

// waitEvents waits until n workers have sent the event kind for change (or
// the timeout passes) and reports whether they all did. Events of earlier
// changes that arrive late are skipped.
func (e *env) waitEvents(ctx context.Context, kind string, change, n int, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	seen := map[*worker]bool{}
	for len(seen) < n {
		select {
		case ev := <-e.events:
			if ev.Event == kind && ev.Change == change {
				seen[ev.worker] = true
			}
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func counts0CPU(counts []statsReply) float64 {
	var t float64
	for _, c := range counts {
		t += c.CPUSeconds
	}
	return t
}
