package boltstore_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/internal/fakeclock"
	"github.com/presenced/presenced/localbus"
)

type nopSink struct{}

func (nopSink) WriteText([]byte) error { return nil }
func (nopSink) Ping() error            { return nil }
func (nopSink) Close(int, string)      {}

// TestIdleSessionsWriteNoPages holds 1,000 idle sessions on a hub over the
// embedded store for a minute of heartbeats, then flushes: the flush
// writes what one of the lease alone writes (the lease, renewed every
// FlushInterval, is the node's only periodic write).
func TestIdleSessionsWriteNoPages(t *testing.T) {
	clock := fakeclock.New(t0)
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "p.db"), boltstore.Options{Now: clock.Now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := hub.New(hub.Config{Store: s, Bus: localbus.New(), Clock: clock, Writers: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	const sessions = 1000
	clients := make([]*hub.Client, sessions)
	for i := range clients {
		clients[i] = h.Open("u"+strconv.Itoa(i), "web", time.Time{}, nopSink{})
		if err := h.SetOnline(ctx, clients[i], "web"); err != nil {
			t.Fatal(err)
		}
	}
	h.Tick(ctx)
	// A flush with nothing pending writes the lease alone.
	s.Flush()
	before := s.PageWrites()
	s.Flush()
	lease := s.PageWrites() - before
	before = s.PageWrites()
	for range 60 * 4 {
		clock.Advance(250 * time.Millisecond)
		for _, c := range clients {
			h.Touch(c)
		}
		h.Tick(ctx)
	}
	s.Flush()
	if n := s.PageWrites() - before; n != lease {
		t.Fatalf("%d page writes in a minute of %d idle sessions and one flush; the lease alone writes %d", n, sessions, lease)
	}
}
