//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

// churnScenario drops every connection at once, without a close handshake,
// and reconnects each within a window shorter than the offline grace, as
// after a network blip or a load balancer restart. Subscribers — the
// churning clients themselves (ring subscriptions) and steady observers
// that watch every user — must never see anyone go offline whose reconnect
// came within the grace. A flap is such a user seen offline; users whose
// reconnect the server could not take within the grace are reported apart.
type churnScenario struct {
	conns  int
	subs   int
	window time.Duration
	storms int
}

// usersPerObserver keeps each observer connection well under the server's
// 10,000 subscriptions per connection.
const usersPerObserver = 2000

func (s *churnScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.conns, "conns", 10000, "connections that churn (each a presence session)")
	fs.IntVar(&s.subs, "subs", 10, "users each churning connection watches")
	fs.DurationVar(&s.window, "window", 2*time.Second, "reconnects are spread uniformly over this long (keep it under the offline grace)")
	fs.IntVar(&s.storms, "storms", 2, "how many times everyone drops and reconnects")
}

func (s *churnScenario) run(ctx context.Context, e *env) (*report, error) {
	r := newReport("churn", e.runID)
	r.param("conns", s.conns)
	r.param("subs", s.subs)
	r.param("window_s", s.window.Seconds())
	r.param("storms", s.storms)
	if s.subs >= s.conns {
		return nil, fmt.Errorf("--subs must be less than --conns")
	}
	if s.storms < 1 || s.storms > 10 {
		return nil, fmt.Errorf("--storms must be 1–10")
	}
	ws, op, err := e.population(ctx, "u", s.conns, openArgs{Session: true, Ring: s.subs})
	if err != nil {
		return nil, err
	}
	grace := time.Duration(op.Welcome.OfflineGraceMS) * time.Millisecond
	r.param("offline_grace_s", grace.Seconds())
	if s.window >= grace {
		r.note("window %s is not shorter than the grace %s: offline updates are expected", s.window, grace)
	}
	users := make([]string, s.conns)
	for i := range users {
		users[i] = fmt.Sprintf("%s-%d", e.prefix("u"), i)
	}
	nobs := (s.conns + usersPerObserver - 1) / usersPerObserver
	obs, _, err := e.population(ctx, "o", nobs, openArgs{Watch: users})
	if err != nil {
		return nil, err
	}
	all := append(append([]*worker(nil), ws...), obs...)
	if err := heartbeatAll(ctx, ws, intervalRate(op.Welcome)); err != nil {
		return nil, err
	}
	if err := sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	if _, err := callAll[any](ctx, all, "arm", nil); err != nil {
		return nil, err
	}

	var rates, lasts []float64
	reconnected, failed := 0, 0
	late := map[string]bool{}
	for storm := range s.storms {
		fmt.Fprintf(os.Stderr, "churn: storm %d: dropping %d connections, reconnecting within %s\n", storm+1, op.Opened, s.window)
		reps, err := callAll[churnReply](ctx, ws, "churn", churnArgs{Window: s.window, InTime: grace})
		if err != nil {
			return nil, err
		}
		n, last := 0, 0.0
		for _, c := range reps {
			n += c.Reconnected
			failed += c.Failed
			last = max(last, c.LastMS)
			for _, u := range c.Late {
				late[u] = true
			}
			if len(c.Errors) > 0 {
				r.note("storm %d reconnect errors: %v", storm+1, c.Errors)
			}
		}
		reconnected += n
		lasts = append(lasts, last)
		if last > 0 {
			rates = append(rates, float64(n)/(last/1000))
		}
	}
	// The dropped sessions' graces end now: nobody may see that either.
	if err := sleep(ctx, grace+time.Second); err != nil {
		return nil, err
	}
	st, err := sumStats(ctx, ws)
	if err != nil {
		return nil, err
	}
	ost, err := sumStats(ctx, obs)
	if err != nil {
		return nil, err
	}
	seen, err := e.offlineSeen(ctx, all)
	if err != nil {
		return nil, err
	}
	inGrace := 0
	for u := range seen {
		if !late[u] {
			inGrace++
		}
	}
	r.add("connections", op.Opened, "")
	r.add("reconnects", reconnected, "")
	r.add("reconnect_failures", failed, "")
	r.add("storm_last_reconnect", median(lasts), "ms")
	r.add("reconnect_rate", median(rates), "conn/s")
	r.add("reconnects_after_grace", len(late), "")
	r.add("offline_updates_seen", st.OfflineSeen+ost.OfflineSeen, "")
	r.add("users_seen_offline", len(seen), "")
	r.add("flaps", inGrace, "")
	r.check("flaps in a reconnect storm inside the grace", float64(inGrace), "<=", 0, "")
	if len(late) > 0 {
		r.note("%d reconnected sessions were not open again within the grace (the server acknowledged them later): their users rightly went offline and are not counted as flaps", len(late))
	}
	st.Closes = mergeCounts(st.Closes, ost.Closes)
	st.Errors = mergeCounts(st.Errors, ost.Errors)
	addConnStats(r, st)
	return r, nil
}

func mergeCounts(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}
