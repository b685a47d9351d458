package gateway

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/localbus"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/wsconn"
)

func newGateway(t *testing.T, cfg Config) *Gateway {
	t.Helper()
	h, err := hub.New(hub.Config{Store: memstore.New(), Bus: localbus.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	cfg.Hub = h
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Shutdown(context.Background()) })
	return g
}

// Without a configured bound a node takes nine tenths of its open-file
// limit, so it refuses with 429 before accept fails for lack of files.
func TestDefaultConnectionBounds(t *testing.T) {
	limit := wsconn.OpenFileLimit()
	if limit == 0 {
		t.Skip("open-file limit unknown here")
	}
	cfg := newGateway(t, Config{}).Config()
	if cfg.MaxConnections != limit/10*9 || cfg.MaxConnections <= 0 || cfg.MaxConnections >= limit {
		t.Fatalf("MaxConnections = %d with %d open files allowed", cfg.MaxConnections, limit)
	}
	if cfg.MaxConnectionsPerUser != DefaultMaxConnectionsPerUser {
		t.Fatalf("MaxConnectionsPerUser = %d", cfg.MaxConnectionsPerUser)
	}
	// A negative value means no bound.
	adm := newGateway(t, Config{MaxConnections: -1, MaxConnectionsPerUser: -1}).adm
	for range 2 * DefaultMaxConnectionsPerUser {
		if err := adm.admit("alice"); err != nil {
			t.Fatal(err)
		}
	}
}
