package webhook_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/internal/webhooktest"
	"github.com/presenced/presenced/metrics"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/webhook"
)

func newSecret(t *testing.T) (string, []byte) {
	t.Helper()
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := webhook.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, key
}

func start(t *testing.T, cfg webhook.Config) *webhook.Engine {
	t.Helper()
	e, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	t.Cleanup(e.Close)
	return e
}

// statusEvent is the v-th change of user: presence versions tell the
// order the events happened in.
func statusEvent(user string, v uint64, at time.Time) webhook.Event {
	return webhook.Event{Type: webhook.UserStatus, TimeMS: at.UnixMilli(), UserID: user,
		Presence: &presence.Presence{UserID: user, Status: presence.StatusOnline, V: v}}
}

// checkDelivered checks that every event of want arrived at least once,
// that the events of each user arrived in order, and that a message id
// always carried the same events.
func checkDelivered(t *testing.T, got []webhooktest.Delivery, want []webhook.Event) {
	t.Helper()
	seen := map[string]bool{}
	last := map[string]uint64{}
	msgs := map[string]string{}
	for _, d := range got {
		var ids []string
		for _, ev := range d.Msg.Events {
			ids = append(ids, ev.ID)
			if seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
			if ev.Presence == nil {
				t.Fatalf("event %s has no presence", ev.ID)
			}
			if ev.Presence.V <= last[ev.UserID] {
				t.Fatalf("user %s: version %d arrived after %d", ev.UserID, ev.Presence.V, last[ev.UserID])
			}
			last[ev.UserID] = ev.Presence.V
		}
		key := strings.Join(ids, ",")
		if prev, ok := msgs[d.Msg.ID]; ok && prev != key {
			t.Fatalf("message %s carried %s, then %s", d.Msg.ID, prev, key)
		}
		msgs[d.Msg.ID] = key
	}
	for _, ev := range want {
		if !seen[ev.ID] {
			t.Fatalf("event %s (%s v%d) never arrived", ev.ID, ev.UserID, ev.Presence.V)
		}
	}
}

// added returns the events as the outbox stored them (with ids).
func added(ob *webhook.Memory, evs []webhook.Event) []webhook.Event {
	ob.Add(evs...)
	return evs
}

func TestDeliversSignedBatchesInOrder(t *testing.T) {
	secret, key := newSecret(t)
	rcv := webhooktest.NewReceiver(t, secret)
	ob := webhook.NewMemory([]string{rcv.URL()}, 0, nil)
	m := metrics.NewWebhooks(nil)
	start(t, webhook.Config{URLs: []string{rcv.URL()}, Key: key, Outbox: ob, BatchMax: 100, Metrics: m})
	var want []webhook.Event
	now := time.Now()
	for v := uint64(1); v <= 250; v++ {
		want = append(want, added(ob, []webhook.Event{statusEvent("u"+string(rune('a'+v%3)), v, now)})...)
	}
	poll.Until(t, "250 events", func() bool {
		n := 0
		for _, d := range rcv.Accepted() {
			n += len(d.Msg.Events)
		}
		return n >= 250
	})
	got := rcv.Accepted()
	checkDelivered(t, got, want)
	for _, d := range got {
		if len(d.Msg.Events) > 100 {
			t.Fatalf("a message of %d events, at most 100 allowed", len(d.Msg.Events))
		}
	}
	// The engine counts a delivery once it has the answer, just after the
	// receiver recorded it.
	poll.Until(t, "the delivered metric to reach 250", func() bool {
		return value(m.Delivered.WithLabelValues(rcv.URL(), "user.status")) == 250
	})
	poll.Until(t, "pending to drain", func() bool { return value(m.Pending.WithLabelValues(rcv.URL())) == 0 })
}

func TestFailingReceiverHoldsBackOnlyItsQueue(t *testing.T) {
	secret, key := newSecret(t)
	good := webhooktest.NewReceiver(t, secret)
	bad := webhooktest.NewReceiver(t, secret)
	var recovered sync.WaitGroup
	recovered.Add(1)
	var mu sync.Mutex
	healthy := false
	// Three 500s, then hanging past the timeout until told to recover.
	bad.Respond = func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case healthy:
			return http.StatusOK
		case n <= 3:
			return http.StatusInternalServerError
		}
		return 0
	}
	urls := []string{good.URL(), bad.URL()}
	ob := webhook.NewMemory(urls, 0, nil)
	m := metrics.NewWebhooks(nil)
	start(t, webhook.Config{URLs: urls, Key: key, Outbox: ob, BatchMax: 7, BatchWait: time.Millisecond,
		Timeout: time.Second, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Metrics: m})
	var want []webhook.Event
	v := uint64(0)
	addRound := func() {
		for range 20 {
			v++
			want = append(want, added(ob, []webhook.Event{statusEvent([]string{"ann", "bob", "cy"}[v%3], v, time.Now())})...)
		}
	}
	addRound()
	poll.Until(t, "the failing receiver to hang", func() bool { return bad.Requests() >= 4 })
	addRound()
	poll.Until(t, "the healthy receiver to get everything", func() bool {
		n := 0
		for _, d := range good.Accepted() {
			n += len(d.Msg.Events)
		}
		return n >= len(want)
	})
	if len(bad.Accepted()) != 0 {
		t.Fatal("the failing receiver accepted something")
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	addRound()
	poll.Until(t, "the recovered receiver to get everything", func() bool {
		seen := map[string]bool{}
		for _, d := range bad.Accepted() {
			for _, ev := range d.Msg.Events {
				seen[ev.ID] = true
			}
		}
		return len(seen) == len(want)
	})
	checkDelivered(t, good.Accepted(), want)
	checkDelivered(t, bad.Accepted(), want)
	if n := value(m.Retried.WithLabelValues(bad.URL(), "user.status")); n == 0 {
		t.Fatal("no retry counted")
	}
	if n := value(m.Retried.WithLabelValues(good.URL(), "user.status")); n != 0 {
		t.Fatalf("the healthy receiver's events were retried %v times", n)
	}
}

func TestConnectionRefusedThenListening(t *testing.T) {
	secret, key := newSecret(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	url := "http://" + addr + "/hooks"
	ob := webhook.NewMemory([]string{url}, 0, nil)
	m := metrics.NewWebhooks(nil)
	start(t, webhook.Config{URLs: []string{url}, Key: key, Outbox: ob, BatchWait: time.Millisecond,
		RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Metrics: m})
	want := added(ob, []webhook.Event{statusEvent("ann", 1, time.Now()), statusEvent("ann", 2, time.Now())})
	poll.Until(t, "a few refused attempts", func() bool {
		return value(m.Retried.WithLabelValues(webhook.Label(url), string(webhook.UserStatus))) >= 4
	})
	rcv := webhooktest.NewReceiver(t, secret)
	rcv.Server.Close()
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: rcv}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	poll.Until(t, "delivery after the receiver starts", func() bool { return len(rcv.Accepted()) > 0 })
	checkDelivered(t, rcv.Accepted(), want)
}

// fakeClock is a webhook.Clock whose timers fire when the test advances
// it past them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	d  time.Duration
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), d: d, ch: ch})
	return ch
}

// waitTimer waits until a timer of d is pending and fires it by moving the
// clock to it.
func (c *fakeClock) waitTimer(t *testing.T, d time.Duration) {
	t.Helper()
	poll.Until(t, "a timer of "+d.String(), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return slices.ContainsFunc(c.timers, func(ft fakeTimer) bool { return ft.d == d })
	})
	c.mu.Lock()
	i := slices.IndexFunc(c.timers, func(ft fakeTimer) bool { return ft.d == d })
	ft := c.timers[i]
	c.now = ft.at
	c.timers = slices.Delete(c.timers, i, i+1)
	c.mu.Unlock()
	ft.ch <- ft.at
}

func TestBackoffIsExponentialUpToFiveMinutes(t *testing.T) {
	secret, key := newSecret(t)
	rcv := webhooktest.NewReceiver(t, secret)
	rcv.Respond = func(int) int { return http.StatusServiceUnavailable }
	clk := &fakeClock{now: time.Now()}
	rcv.Now = clk.Now
	var bounds []time.Duration
	var mu sync.Mutex
	ob := webhook.NewMemory([]string{rcv.URL()}, 0, nil)
	start(t, webhook.Config{URLs: []string{rcv.URL()}, Key: key, Outbox: ob, Clock: clk, BatchWait: -1,
		PollInterval: time.Hour,
		Jitter: func(max time.Duration) time.Duration {
			mu.Lock()
			bounds = append(bounds, max)
			mu.Unlock()
			return max
		}})
	ob.Add(statusEvent("ann", 1, clk.Now()))
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300}
	for i, w := range want {
		poll.Until(t, "attempt", func() bool { return rcv.Requests() == i+1 })
		clk.waitTimer(t, w*time.Second)
	}
	poll.Until(t, "the last attempt", func() bool { return rcv.Requests() == len(want)+1 })
	mu.Lock()
	defer mu.Unlock()
	for i, w := range want {
		if bounds[i] != w*time.Second {
			t.Fatalf("backoff bound %d = %s, want %s (all: %v)", i+1, bounds[i], w*time.Second, bounds)
		}
	}
}

func TestMaxAgeDropsAndCounts(t *testing.T) {
	secret, key := newSecret(t)
	rcv := webhooktest.NewReceiver(t, secret)
	rcv.Fail(http.StatusInternalServerError)
	clk := &fakeClock{now: time.Now()}
	rcv.Now = clk.Now
	ob := webhook.NewMemory([]string{rcv.URL()}, 0, nil)
	m := metrics.NewWebhooks(nil)
	start(t, webhook.Config{URLs: []string{rcv.URL()}, Key: key, Outbox: ob, Clock: clk, BatchWait: -1,
		PollInterval: time.Hour, MaxAge: 10 * time.Second, RetryMin: 4 * time.Second, RetryMax: 4 * time.Second,
		Jitter: func(max time.Duration) time.Duration { return max }, Metrics: m})
	dropped := func(typ string) float64 { return value(m.Dropped.WithLabelValues(rcv.URL(), typ)) }
	ob.Add(webhook.Event{Type: webhook.RoomOccupied, TimeMS: clk.Now().UnixMilli(), Room: "r"})
	for i := 1; i <= 3; i++ { // attempts at 0s, 4s, 8s
		poll.Until(t, "attempt", func() bool { return rcv.Requests() == i })
		clk.waitTimer(t, 4*time.Second)
	}
	poll.Until(t, "the drop", func() bool { return dropped("room.occupied") == 1 })
	if n := rcv.Requests(); n != 3 {
		t.Fatalf("%d attempts, want 3 (the fourth would be past the maximum age)", n)
	}
	if n := ob.Backlog(rcv.URL()); n != 0 {
		t.Fatalf("backlog %d after the drop", n)
	}
	// An event already too old when read is dropped unsent; the queue goes
	// on with the next.
	rcv.Fail(0)
	ob.Add(webhook.Event{Type: webhook.RoomVacated, TimeMS: clk.Now().Add(-time.Minute).UnixMilli(), Room: "r"},
		webhook.Event{Type: webhook.RoomOccupied, TimeMS: clk.Now().UnixMilli(), Room: "r2"})
	poll.Until(t, "the fresh event", func() bool { return len(rcv.Accepted()) == 1 })
	if ev := rcv.Accepted()[0].Msg.Events; len(ev) != 1 || ev[0].Room != "r2" {
		t.Fatalf("delivered %+v, want only r2's event", ev)
	}
	if dropped("room.vacated") != 1 {
		t.Fatal("the stale event was not counted as dropped")
	}
}

func TestMemoryOutboxBound(t *testing.T) {
	var lost []string
	ob := webhook.NewMemory([]string{"a"}, 2, func(target string, ev *webhook.Event) { lost = append(lost, target+":"+ev.Room) })
	ob.Add(webhook.Event{Room: "1"}, webhook.Event{Room: "2"}, webhook.Event{Room: "3"})
	if !slices.Equal(lost, []string{"a:1"}) {
		t.Fatalf("lost %v", lost)
	}
	evs, _ := ob.Pending(context.Background(), "a", 10)
	if len(evs) != 2 || evs[0].Room != "2" || evs[0].ID == evs[1].ID {
		t.Fatalf("pending %+v", evs)
	}
	if more, _ := ob.Pending(context.Background(), "a", 10); len(more) != 0 {
		t.Fatalf("handed out twice: %+v", more)
	}
	_ = ob.Ack(context.Background(), "a", []string{evs[0].ID})
	ob.Add(webhook.Event{Room: "4"})
	if evs, _ := ob.Pending(context.Background(), "a", 10); len(evs) != 1 || evs[0].Room != "4" {
		t.Fatalf("pending after ack %+v", evs)
	}
}

// value reads a counter's or gauge's value.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func TestDrainWaitsForDeliveryOrGivesUp(t *testing.T) {
	secret, key := newSecret(t)
	rcv := webhooktest.NewReceiver(t, secret)
	rcv.Fail(http.StatusBadGateway)
	ob := webhook.NewMemory([]string{rcv.URL()}, 0, nil)
	e := start(t, webhook.Config{URLs: []string{rcv.URL()}, Key: key, Outbox: ob, BatchWait: time.Millisecond,
		RetryMin: 5 * time.Millisecond, RetryMax: 10 * time.Millisecond})
	ob.Add(statusEvent("ann", 1, time.Now()))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.Drain(ctx); err == nil {
		t.Fatal("drained while the receiver fails")
	}
	rcv.Fail(0)
	ob.Add(statusEvent("ann", 2, time.Now()))
	if err := e.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.Events()); n != 2 {
		t.Fatalf("%d events delivered when Drain returned, want 2", n)
	}
}
