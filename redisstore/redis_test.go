package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/redistest"
	"github.com/presenced/presenced/internal/storetest"
	"github.com/presenced/presenced/presence"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func setDeadline(t *testing.T, s *Store, id string, at time.Time) {
	t.Helper()
	if _, err := s.Update(ctx(t), id, func(st *presence.UserState) error { st.Deadline = at; return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestClaimIsALease: a node that claims a user and dies before settling it
// loses nothing; another node claims the user when the lease ends.
func TestClaimIsALease(t *testing.T) {
	nodes := openNodes(t, redisURLs(t)["cluster"], 2, nil)
	a, b := nodes[0].Store, nodes[1].Store
	t0 := storetest.T0
	setDeadline(t, a, "zoe", t0)
	if ids, err := a.ClaimDue(ctx(t), t0, 100); err != nil || len(ids) != 1 {
		t.Fatalf("claim = %v, %v", ids, err)
	}
	// a "dies" here, never settling zoe.
	if ids, _ := b.ClaimDue(ctx(t), t0.Add(nodes[0].cfg.Lease-time.Millisecond), 100); len(ids) != 0 {
		t.Fatalf("claimed %v during the lease", ids)
	}
	if ids, _ := b.ClaimDue(ctx(t), t0.Add(nodes[0].cfg.Lease), 100); len(ids) != 1 || ids[0] != "zoe" {
		t.Fatalf("after the lease: %v", ids)
	}
}

// TestIndexConvergesUnderConcurrentWriters races three nodes moving the
// deadlines of a few users back and forth; afterwards every index entry
// must match its record exactly, whatever order the index writes landed.
func TestIndexConvergesUnderConcurrentWriters(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			nodes := openNodes(t, url, 3, nil)
			users := []string{"ia", "ib", "ic", "id"}
			var wg sync.WaitGroup
			for _, n := range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 60 {
						id := users[rand.IntN(len(users))]
						at := storetest.T0.Add(time.Duration(rand.IntN(1000)) * time.Second)
						if rand.IntN(5) == 0 {
							at = time.Time{}
						}
						if _, err := n.Store.Update(context.Background(), id, func(st *presence.UserState) error {
							st.Deadline = at
							return nil
						}); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			s := nodes[0].Store
			states, err := s.Load(ctx(t), users)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range users {
				key := s.l.shardKey(userShard(id))
				score, err := s.client.Do(ctx(t), s.client.B().Zscore().Key(key).Member(id).Build()).AsInt64()
				dl := states[id].Deadline
				switch {
				case dl.IsZero() && err == nil:
					t.Errorf("%s: no deadline, index says %d", id, score)
				case !dl.IsZero() && (err != nil || score != unixMS(dl)):
					t.Errorf("%s: deadline %d, index says %d (%v)", id, unixMS(dl), score, err)
				}
			}
		})
	}
}

// TestStaleIndexWriteLoses replays an index write of an older revision
// after a newer one: it must change nothing.
func TestStaleIndexWriteLoses(t *testing.T) {
	s := openNodes(t, redisURLs(t)["single"], 1, nil)[0].Store
	late, early := storetest.T0.Add(time.Hour), storetest.T0.Add(time.Minute)
	setDeadline(t, s, "stale", late)  // revision 1
	setDeadline(t, s, "stale", early) // revision 2
	s.setDeadline(ctx(t), "stale", late, 1)
	if ids, _ := s.ClaimDue(ctx(t), early, 100); len(ids) != 1 {
		t.Fatalf("the replayed older entry won: claimed %v at the newer deadline", ids)
	}
}

type recorder struct {
	mu     sync.Mutex
	got    []string
	resync int
}

func (r *recorder) deliver(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p == nil {
		r.resync++
		return
	}
	r.got = append(r.got, string(p))
}

func (r *recorder) resyncs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resync
}

func (r *recorder) has(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if g == msg {
			return true
		}
	}
	return false
}

// flows publishes until rec receives a message, proving the subscription
// works now.
func flows(t *testing.T, bus *Bus, topic string, rec *recorder, within time.Duration) {
	t.Helper()
	var n atomic.Int64
	waitFor(t, "messages on "+topic, within, func() bool {
		msg := fmt.Sprintf("m%d", n.Add(1))
		_ = bus.Publish(context.Background(), topic, []byte(msg))
		time.Sleep(10 * time.Millisecond)
		return rec.has(msg)
	})
}

// TestBusResubscribesAfterConnectionLoss kills the pub/sub connections on
// the server side: the bus reconnects, subscribes again and asks for a
// re-read of what it may have missed.
func TestBusResubscribesAfterConnectionLoss(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			bus := openNodes(t, url, 1, nil)[0].Bus
			rec := &recorder{}
			if err := bus.Subscribe("u:kim", rec.deliver); err != nil {
				t.Fatal(err)
			}
			flows(t, bus, "u:kim", rec, 5*time.Second)
			before := rec.resyncs()
			addrs := []string{shared.single.Addr()}
			if name == "cluster" {
				addrs = nil
				for _, s := range shared.cluster.Nodes {
					addrs = append(addrs, s.Addr())
				}
			}
			for _, a := range addrs {
				if _, err := redistest.Do(a, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "a re-read request", 5*time.Second, func() bool { return rec.resyncs() > before })
			flows(t, bus, "u:kim", rec, 5*time.Second)
		})
	}
}

// TestBusFollowsSlotMigration moves the slot of a subscribed channel to
// another master: the old owner drops the subscription, and the bus
// subscribes at the new owner.
func TestBusFollowsSlotMigration(t *testing.T) {
	start(t)
	c := shared.cluster
	bus := openNodes(t, c.URL(), 1, nil)[0].Bus
	rec := &recorder{}
	if err := bus.Subscribe("u:lee", rec.deliver); err != nil {
		t.Fatal(err)
	}
	flows(t, bus, "u:lee", rec, 5*time.Second)
	before := rec.resyncs()

	ch, _ := bus.b.l.channel("u:lee")
	slot := strconv.Itoa(int(Slot(ch)))
	src, err := c.MasterOf(ch)
	if err != nil {
		t.Fatal(err)
	}
	var dst *redistest.Server
	for _, m := range c.Masters() {
		if m != src {
			dst = m
			break
		}
	}
	srcID, _ := redistest.DoString(src.Addr(), "CLUSTER", "MYID")
	dstID, _ := redistest.DoString(dst.Addr(), "CLUSTER", "MYID")
	for _, step := range [][]string{
		{dst.Addr(), "IMPORTING", srcID},
		{src.Addr(), "MIGRATING", dstID},
		{dst.Addr(), "NODE", dstID},
		{src.Addr(), "NODE", dstID},
	} {
		if _, err := redistest.Do(step[0], "CLUSTER", "SETSLOT", slot, step[1], step[2]); err != nil {
			t.Fatalf("SETSLOT %s: %v", step[1], err)
		}
	}
	if err := c.WaitHealthy(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a re-read request after the move", 10*time.Second, func() bool { return rec.resyncs() > before })
	flows(t, bus, "u:lee", rec, 10*time.Second)
	if now, err := c.MasterOf(ch); err != nil || now != dst {
		t.Fatalf("slot %s not moved: %v", slot, err)
	}
}

// TestOutage stops Redis under a backend: it reports itself unavailable,
// operations fail fast with an unavailable error and Subscribe still does
// not block; when Redis returns it is ready again by itself and its
// subscriptions work.
func TestOutage(t *testing.T) {
	srv := redistest.Start(t)
	var mu sync.Mutex
	var events []bool
	b := openNodes(t, srv.URL(), 1, func(c *Config) {
		c.ProbeInterval = 50 * time.Millisecond
		c.OpTimeout = 500 * time.Millisecond
		c.OnReady = func(ready bool) { mu.Lock(); events = append(events, ready); mu.Unlock() }
	})[0]
	rec := &recorder{}
	if err := b.Bus.Subscribe("u:max", rec.deliver); err != nil {
		t.Fatal(err)
	}
	flows(t, b.Bus, "u:max", rec, 5*time.Second)
	setDeadline(t, b.Store, "max", storetest.T0)

	srv.Kill()
	// The probe, not only the pub/sub partition, must have seen the outage
	// before Redis returns: wait for its report.
	waitFor(t, "the probe to report the outage", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0
	})
	if b.Ready() == nil {
		t.Fatal("Ready during the outage")
	}
	began := time.Now()
	_, err := b.Store.Update(context.Background(), "max", func(*presence.UserState) error { return nil })
	if !errors.Is(err, errUnavailable) || time.Since(began) > 2*time.Second {
		t.Fatalf("Update during the outage: %v after %s", err, time.Since(began))
	}
	if _, err := b.Store.ClaimDue(context.Background(), storetest.T0, 10); !errors.Is(err, errUnavailable) {
		t.Fatalf("ClaimDue during the outage: %v", err)
	}
	began = time.Now()
	for i := range 100 {
		_ = b.Bus.Subscribe("u:during"+strconv.Itoa(i), func([]byte) {})
	}
	if d := time.Since(began); d > 100*time.Millisecond {
		t.Fatalf("Subscribe blocked for %s during the outage", d)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Ready to recover", 10*time.Second, func() bool { return b.Ready() == nil })
	flows(t, b.Bus, "u:max", rec, 5*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0] || !events[1] {
		t.Fatalf("OnReady calls %v, want [false true]", events)
	}
}

// TestFrozenRedisTimesOut pauses Redis: calls give up at the operation
// timeout instead of hanging.
func TestFrozenRedisTimesOut(t *testing.T) {
	srv := redistest.Start(t)
	b := openNodes(t, srv.URL(), 1, func(c *Config) { c.OpTimeout = 300 * time.Millisecond })[0]
	srv.Pause()
	defer srv.Resume()
	began := time.Now()
	_, err := b.Store.Load(context.Background(), []string{"x"})
	if err == nil || time.Since(began) > 2*time.Second {
		t.Fatalf("Load on a frozen server: %v after %s", err, time.Since(began))
	}
}

func TestOpenRefusesWrongModeAndPrefix(t *testing.T) {
	start(t)
	for url, want := range map[string]string{
		"redis://" + shared.cluster.Nodes[0].Addr(): "use redis+cluster://",
		"redis+cluster://" + shared.single.Addr():   "not a Redis Cluster",
		"redis://127.0.0.1:1":                       "unavailable",
	} {
		if _, err := Open(Config{URL: url, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s) = %v, want an error mentioning %q", url, err, want)
		}
	}
	if _, err := Open(Config{URL: shared.single.URL(), Prefix: "a{b}"}); err == nil {
		t.Error("a prefix with braces was accepted")
	}
}

// TestFailedPublishIsRetried: a publish that times out while the watchers'
// subscriptions stay up still reaches them, late.
func TestFailedPublishIsRetried(t *testing.T) {
	srv := redistest.Start(t)
	nodes := openNodes(t, srv.URL(), 2, func(c *Config) { c.OpTimeout = 200 * time.Millisecond })
	sub, pub := nodes[0].Bus, nodes[1].Bus
	rec := &recorder{}
	if err := sub.Subscribe("u:nia", rec.deliver); err != nil {
		t.Fatal(err)
	}
	flows(t, pub, "u:nia", rec, 5*time.Second)
	// Writes, SPUBLISH among them, wait while the pause lasts.
	if _, err := redistest.Do(srv.Addr(), "CLIENT", "PAUSE", "1000", "WRITE"); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), "u:nia", []byte("during the pause")); err != nil {
		t.Fatalf("Publish = %v; a user topic's failure is retried, not returned", err)
	}
	if n := pub.republish.count.Load(); n != 1 {
		t.Fatalf("%d publishes queued for retry, want 1", n)
	}
	waitFor(t, "the retried publish", 10*time.Second, func() bool {
		return rec.has("during the pause") && pub.republish.count.Load() == 0
	})
	if err := pub.Publish(context.Background(), "ctl", []byte("kick")); err != nil {
		t.Fatal(err) // the pause is over: control messages go through again
	}
}

// TestBusConfirmsASubscriptionWantedAgain: a topic dropped and wanted again
// at once (the last local watcher left, a new one came) may never be
// unsubscribed; the new subscriber must still hear that it is in effect.
func TestBusConfirmsASubscriptionWantedAgain(t *testing.T) {
	start(t)
	bus := openNodes(t, shared.single.URL(), 1, nil)[0].Bus
	first := &recorder{}
	if err := bus.Subscribe("r:doc", first.deliver); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first subscription", 5*time.Second, func() bool { return first.resyncs() > 0 })
	for i := range 20 {
		again := &recorder{}
		if err := bus.Unsubscribe("r:doc"); err != nil {
			t.Fatal(err)
		}
		if err := bus.Subscribe("r:doc", again.deliver); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("subscription %d to be confirmed", i+2), 5*time.Second, func() bool { return again.resyncs() > 0 })
		flows(t, bus, "r:doc", again, 5*time.Second)
	}
}
