//go:build linux

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// watchState counts what the group's clients saw of the users they watch:
// every change to offline, every return from offline, and the first
// offline of each user after arm (for detect).
type watchState struct {
	offlineSeen atomic.Int64
	backOnline  atomic.Int64

	mu    sync.Mutex
	first map[string]offlineSeen // nil until armed
}

type offlineSeen struct {
	RecvNS     int64 `json:"recv_ns"`
	LastSeenMS int64 `json:"last_seen_ms"`
}

// arm starts counting afresh: what happened while the clients connected
// and subscribed is not part of any measurement.
func (w *watchState) arm() {
	w.mu.Lock()
	w.first = map[string]offlineSeen{}
	w.offlineSeen.Store(0)
	w.backOnline.Store(0)
	w.mu.Unlock()
}

func (w *watchState) offline(u update, now int64) {
	w.offlineSeen.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.first == nil {
		return
	}
	if _, dup := w.first[u.user]; dup {
		return
	}
	w.first[u.user] = offlineSeen{RecvNS: now, LastSeenMS: u.lastSeenMS}
}

func (w *watchState) report() map[string]offlineSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]offlineSeen, len(w.first))
	for k, v := range w.first {
		out[k] = v
	}
	return out
}

// fanState records fan-out latencies. The publisher writes "bench <unix
// nanos> <change>" into its custom status, so each receiver computes its
// latency alone, with no clock shared but the machine's.
type fanState struct {
	g      *group
	mu     sync.Mutex
	expect int
	lat    map[int][]int64 // change → latencies in nanoseconds
}

type fanArmArgs struct {
	// Expect is how many of the group's clients watch the publisher.
	Expect int `json:"expect"`
}

func (f *fanState) arm(a fanArmArgs) {
	f.mu.Lock()
	f.expect, f.lat = a.Expect, map[int][]int64{}
	f.mu.Unlock()
}

func benchMark(t0 int64, change int) string { return fmt.Sprintf("bench %d %d", t0, change) }

func (f *fanState) record(custom string, now int64) {
	rest, ok := strings.CutPrefix(custom, "bench ")
	if !ok {
		return
	}
	ts, cs, ok := strings.Cut(rest, " ")
	if !ok {
		return
	}
	t0, err1 := strconv.ParseInt(ts, 10, 64)
	change, err2 := strconv.Atoi(cs)
	if err1 != nil || err2 != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lat == nil {
		return
	}
	f.lat[change] = append(f.lat[change], now-t0)
	if len(f.lat[change]) == f.expect {
		f.g.emit(event{Event: "fanout_done", Change: change, Count: f.expect})
	}
}

func (f *fanState) report() map[int][]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[int][]int64, len(f.lat))
	for k, v := range f.lat {
		out[k] = append([]int64(nil), v...)
	}
	return out
}

type publishArgs struct {
	Change int    `json:"change"`
	Status string `json:"status"`
}

type publishReply struct {
	T0 int64 `json:"t0"`
}

// publish makes the group's first connection change its status, marked
// with the time and change number.
func (g *group) publish(ctx context.Context, a publishArgs) (publishReply, error) {
	conns := g.snapshot()
	if len(conns) == 0 {
		return publishReply{}, fmt.Errorf("publish: the group has no connection")
	}
	t0 := time.Now().UnixNano()
	frame := fmt.Sprintf(`{"type":"set_status","id":%%d,"status":%q,"custom_status":%q}`, a.Status, benchMark(t0, a.Change))
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reply, err := conns[0].request(rctx, func(id int) []byte { return fmt.Appendf(nil, frame, id) })
	if err != nil {
		return publishReply{}, err
	}
	if typ, _ := header(reply); typ != "ack" {
		return publishReply{}, fmt.Errorf("set_status answered %.200s", reply)
	}
	return publishReply{T0: t0}, nil
}

type churnArgs struct {
	// Window spreads the reconnects uniformly over this long.
	Window time.Duration `json:"window"`
	// InTime is how soon after the drop a reconnected session must be
	// open to count as within the grace.
	InTime time.Duration `json:"in_time"`
}

type churnReply struct {
	Dropped     int      `json:"dropped"`
	Reconnected int      `json:"reconnected"`
	Failed      int      `json:"failed"`
	Errors      []string `json:"errors,omitempty"`
	// LastMS is when the last reconnect (with its resubscribe) finished,
	// counted from the drop.
	LastMS float64 `json:"last_ms"`
	// Late lists the users whose session was not open again by InTime:
	// the server rightly shows them offline once their grace ends.
	Late []string `json:"late,omitempty"`
}

// churn drops every connection at once, without a close handshake, and
// reconnects each (same user, same device, same subscriptions) after a
// random delay within the window.
func (g *group) churn(ctx context.Context, a churnArgs) churnReply {
	conns := g.snapshot()
	var rep churnReply
	start := time.Now()
	for _, c := range conns {
		if ws := c.ws.Swap(nil); ws != nil {
			c.leaving.Store(true)
			ws.Drop()
			rep.Dropped++
		}
	}
	for _, c := range conns {
		if c.done != nil {
			<-c.done
		}
	}
	var t tally
	var lateMu sync.Mutex
	var last atomic.Int64 // nanoseconds from the drop to the latest reconnect
	var wg sync.WaitGroup
	for _, c := range conns {
		delay := time.Duration(rand.Int64N(int64(a.Window) + 1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(time.Until(start.Add(delay))):
			case <-ctx.Done():
				return
			}
			err := c.connect(ctx)
			t.record(err)
			if err != nil || c.sessionAt.Sub(start) > a.InTime {
				lateMu.Lock()
				rep.Late = append(rep.Late, c.user)
				lateMu.Unlock()
			}
			if err == nil {
				for d := int64(time.Since(start)); ; {
					old := last.Load()
					if d <= old || last.CompareAndSwap(old, d) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	rep.Reconnected, rep.Failed, rep.Errors = t.ok, t.failed, t.errors
	rep.LastMS = float64(last.Load()) / 1e6
	return rep
}
