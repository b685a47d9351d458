package hub

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// countSink is a Sink that counts what it is written, shared by every
// client of a benchmark: the writers' drain is part of what is measured.
type countSink struct {
	frames, bytes atomic.Int64
	want          atomic.Int64
	reached       chan struct{}
}

func newCountSink() *countSink { return &countSink{reached: make(chan struct{}, 1)} }

func (s *countSink) WriteText(b []byte) error {
	s.bytes.Add(int64(len(b)))
	if s.frames.Add(1) == s.want.Load() {
		s.reached <- struct{}{}
	}
	return nil
}
func (s *countSink) Ping() error       { return nil }
func (s *countSink) Close(int, string) {}

// await blocks until n more frames than before have been written.
func (s *countSink) await(b *testing.B, n int64, start func()) {
	if s.want.Add(n) <= s.frames.Load() {
		b.Fatal("frames arrived before they were expected")
	}
	start()
	select {
	case <-s.reached:
	case <-time.After(10 * time.Second):
		b.Fatalf("timed out: %d of %d frames written", s.frames.Load(), s.want.Load())
	}
}

// watchers opens n clients on sink, each watching the given users, and
// returns them once every snapshot is written.
func watchers(b *testing.B, h *Hub, sink *countSink, n int, users ...string) []*Client {
	ctx := context.Background()
	cs := make([]*Client, n)
	sink.await(b, int64(n), func() {
		for i := range cs {
			cs[i] = h.Open("w"+strconv.Itoa(i), "", time.Time{}, sink)
			if err := h.Subscribe(ctx, cs[i], users, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	return cs
}

// BenchmarkFanout times one status change reaching every subscriber: the
// store update, one encoding, the queueing to each client and the writers
// handing every frame to its (counting) socket.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h, _ := newHub(b, func(c *Config) { c.Writers = 0 })
			sink := newCountSink()
			watchers(b, h, sink, n, "alice")
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				text := strconv.Itoa(i)
				sink.await(b, int64(n), func() {
					if _, err := h.SetStatus(ctx, "alice", presence.StatusChange{CustomStatus: &text}); err != nil {
						b.Fatal(err)
					}
				})
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkEncodeUpdate times preparing one update for many subscribers:
// each view is encoded once, then the same bytes serve every viewer.
func BenchmarkEncodeUpdate(b *testing.B) {
	h, _ := newHub(b, nil)
	now := time.Unix(1_800_000_000, 0)
	p := presence.Presence{UserID: "alice", Status: presence.StatusBusy, Activity: presence.ActivityInCall,
		CustomStatus: "Back at 3", CustomEmoji: "🍔", LastSeen: now, Device: "web",
		Devices: []presence.Device{{Device: "mobile", Idle: true}, {Device: "web"}}, V: 17}
	rec := &record{p: p}
	viewers := make([]string, 10000)
	for i := range viewers {
		viewers[i] = "w" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var f viewFrames
		level := h.levelsFor(p.UserID)
		for _, v := range viewers {
			if f.forViewer(v, level(v), sentAt(16, presence.LevelFull), rec) == nil {
				b.Fatal("no frame")
			}
		}
	}
	b.ReportMetric(float64(len(viewers)*b.N)/b.Elapsed().Seconds(), "viewers/s")
}

// BenchmarkSubscribe times the subscription index: one client watching and
// then unwatching 10 users that others already watch.
func BenchmarkSubscribe(b *testing.B) {
	h, _ := newHub(b, nil)
	sink := newCountSink()
	users := make([]string, 10)
	for i := range users {
		users[i] = "u" + strconv.Itoa(i)
	}
	watchers(b, h, sink, 100, users...)
	c := h.Open("bench", "", time.Time{}, sink)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := h.Subscribe(ctx, c, users, nil); err != nil {
			b.Fatal(err)
		}
		if err := h.Unsubscribe(c, users); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBulkRead times reading and encoding 1,000 online users with a
// custom status each, the work of one POST /v1/presence/bulk.
func BenchmarkBulkRead(b *testing.B) {
	h, _ := newHub(b, nil)
	ctx := context.Background()
	sink := newCountSink()
	ids := make([]string, 1000)
	text := "In a benchmark"
	for i := range ids {
		ids[i] = "b" + strconv.Itoa(i)
		c := h.Open(ids[i], "web", time.Time{}, sink)
		if err := h.SetOnline(ctx, c, ""); err != nil {
			b.Fatal(err)
		}
		if _, err := h.SetStatus(ctx, ids[i], presence.StatusChange{CustomStatus: &text}); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 0, 300<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var err error
		if buf, err = h.AppendPresencesJSON(ctx, "", ids, buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkLivenessTick is an idle node's liveness pass: 10,000 open
// sessions heartbeating every interval, spread evenly over it, and a tick
// every 50 ms, each finding the connections heard from since their last
// check (34; each is heard from a little under an interval after the
// last time, as a client's timer makes it). One op is one tick.
func BenchmarkLivenessTick(b *testing.B) {
	h, clock := newHub(b, nil)
	ctx := context.Background()
	sink := newCountSink()
	const n, tick = 10000, 50 * time.Millisecond
	iv := h.cfg.HeartbeatInterval
	perTick := int(int64(n)*int64(tick)/int64(iv)) + 1
	clients := make([]*Client, n)
	for i := range clients {
		clients[i] = h.Open("u"+strconv.Itoa(i), "web", time.Time{}, sink)
		if err := h.SetOnline(ctx, clients[i], "web"); err != nil {
			b.Fatal(err)
		}
		if (i+1)%perTick == 0 {
			clock.Advance(tick)
		}
	}
	next := 0
	b.ResetTimer()
	for range b.N {
		for range perTick {
			h.Touch(clients[next])
			next = (next + 1) % n
		}
		clock.Advance(tick)
		h.Tick(ctx)
	}
}
