package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/internal/redistest"
	"github.com/presenced/presenced/localbus"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/metrics"
	"github.com/presenced/presenced/redisstore"
	"github.com/presenced/presenced/webhook"
)

type nopSink struct{}

func (nopSink) WriteText([]byte) error { return nil }
func (nopSink) Ping() error            { return nil }
func (nopSink) Close(int, string)      {}

// BenchmarkTransition measures one online and one offline transition of a
// user (a session opened, then ended at once): plain, and with every
// event queued and delivered to a local receiver;
// on the in-memory store, where what the webhook path adds is not hidden
// by disk writes, on the embedded database a single node runs on, and on
// a Redis server started for it (events in its streams).
func BenchmarkTransition(b *testing.B) {
	for _, name := range []string{"memory/plain", "memory/webhooks", "bolt/plain", "bolt/webhooks", "redis/plain", "redis/webhooks"} {
		b.Run(name, func(b *testing.B) {
			kind, mode, _ := strings.Cut(name, "/")
			wh := &webhooks{}
			var store hub.Store = memstore.New()
			if kind == "bolt" {
				db, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"), boltstore.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				store = db
			}
			if kind == "redis" {
				redistest.Require(b)
				srv, err := redistest.NewServer(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				defer srv.Kill()
				be, err := redisstore.Open(redisstore.Config{URL: srv.URL(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				defer be.Close()
				store = be.Store
			}
			var delivered atomic.Int64
			if mode == "webhooks" {
				rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					delivered.Add(int64(bytes.Count(body, []byte(`"type":`))))
					w.WriteHeader(http.StatusNoContent)
				}))
				defer rcv.Close()
				secret, _ := webhook.NewSecret()
				var err error
				wh, err = openWebhooks(&WebhookConfig{URLs: []string{rcv.URL}, Secret: secret}, metrics.NewWebhooks(nil),
					slog.New(slog.NewTextHandler(io.Discard, nil)), store)
				if err != nil {
					b.Fatal(err)
				}
				wh.engine.Start()
				defer wh.engine.Close()
				tr := newTransitions(wh.add, webhook.DefaultTypes, time.Now)
				tr.durable = wh.durable
				store = tr.store(store)
			}
			h, err := hub.New(hub.Config{Store: store, Bus: localbus.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := range b.N {
				c := h.Open("u"+strconv.Itoa(i%1000), "web", time.Time{}, nopSink{})
				if err := h.SetOnline(ctx, c, ""); err != nil {
					b.Fatal(err)
				}
				if err := h.SetOffline(ctx, c); err != nil {
					b.Fatal(err)
				}
				h.Disconnect(c)
			}
			if mode == "webhooks" {
				// Count the delivery of what was queued, too.
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := wh.engine.Drain(ctx); err != nil {
					b.Fatal(err)
				}
				// A shared outbox counts only what this node holds: wait
				// for the receiver to have every online and offline.
				for kind == "redis" && delivered.Load() < int64(2*b.N) {
					if ctx.Err() != nil {
						b.Fatalf("%d events delivered, want %d", delivered.Load(), 2*b.N)
					}
					time.Sleep(time.Millisecond)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the CPU time the process used so far, in nanoseconds:
// the delivery goroutines' included, which wall time per op would hide.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
