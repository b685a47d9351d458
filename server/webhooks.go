package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/httpapi"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/metrics"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/redisstore"
	"github.com/presenced/presenced/webhook"
)

// WebhookConfig configures webhook delivery (docs/webhooks.md). Without a
// URL no webhook is sent. Zero values mean the documented defaults.
type WebhookConfig struct {
	// URLs each receive every event.
	URLs []string
	// Secret is the signing secret, whsec_<base64>; SecretFile names a
	// file holding it instead.
	Secret, SecretFile string
	// Events is a comma list of event types. Empty means every type but
	// user.status.
	Events    string
	Timeout   time.Duration
	MaxAge    time.Duration
	BatchMax  int
	BatchWait time.Duration
	// RetryMin and RetryMax bound the backoff (zero: 1s and 5m); tests
	// shorten them.
	RetryMin, RetryMax time.Duration
}

// webhooks is a node's webhook delivery: nil parts when none is configured.
type webhooks struct {
	engine *webhook.Engine
	// add queues the events of a change made outside a durable store's
	// transaction (rooms' on the embedded store, all of them in memory);
	// nil on Redis, whose scripts write every event with its change.
	add func(evs ...webhook.Event)
	// durable is the store that writes a user's events with the change,
	// when it can.
	durable eventStore
	types   []webhook.Type
}

// openWebhooks checks the configuration and builds the engine (not yet
// started). On the embedded database the outbox is in its file, on Redis
// in streams beside the records; elsewhere it is in memory.
func openWebhooks(c *WebhookConfig, m *metrics.Webhooks, log *slog.Logger, store hub.Store) (*webhooks, error) {
	if len(c.URLs) == 0 {
		if c.Secret != "" || c.SecretFile != "" || c.Events != "" {
			return nil, errors.New("--webhook-secret, --webhook-secret-file or --webhook-events given without --webhook-url")
		}
		return &webhooks{}, nil
	}
	key, types, err := parseWebhooks(c)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = metrics.NewWebhooks(nil)
	}
	dropped := func(target string, ev *webhook.Event) {
		m.Dropped.WithLabelValues(webhook.Label(target), string(ev.Type)).Inc()
	}
	w := &webhooks{types: types}
	var outbox webhook.Outbox
	if db, ok := store.(*boltstore.Store); ok {
		ob, err := db.EnableOutbox(c.URLs, 0, dropped)
		if err != nil {
			return nil, err
		}
		outbox, w.durable = ob, db
		// Rooms live in this process's memory: their change and its events
		// cannot be one transaction, but the events are on disk before the
		// change is acknowledged, and a crash between the two loses the
		// rooms too (docs/webhooks.md).
		w.add = func(evs ...webhook.Event) {
			if err := db.AddEvents(evs...); err != nil {
				log.Warn("room webhook events not written yet; they go with the next write", "err", err)
			}
		}
	} else if rs, ok := store.(*redisstore.Store); ok {
		// A user's events are appended to a stream by the script that
		// writes the record, a room's by the room's script (the room store
		// is a roomEventStore).
		outbox, w.durable = rs.EnableOutbox(c.URLs, 0), rs
	} else {
		mem := webhook.NewMemory(c.URLs, 0, dropped)
		outbox, w.add = mem, mem.Add
	}
	e, err := webhook.New(webhook.Config{
		URLs: c.URLs, Key: key, Outbox: outbox,
		Timeout: c.Timeout, MaxAge: c.MaxAge, BatchMax: c.BatchMax, BatchWait: c.BatchWait,
		RetryMin: c.RetryMin, RetryMax: c.RetryMax,
		Logger: log, Metrics: m,
	})
	if err != nil {
		return nil, err
	}
	w.engine = e
	return w, nil
}

// checkWebhooks refuses a bad configuration before anything is opened: a
// node that cannot send its webhooks does not touch its data file.
func checkWebhooks(c *WebhookConfig, log *slog.Logger) error {
	w, err := openWebhooks(c, nil, log, nil)
	if err == nil && w.engine != nil {
		w.engine.Close()
	}
	return err
}

// parseWebhooks reads the signing key and the event types.
func parseWebhooks(c *WebhookConfig) ([]byte, []webhook.Type, error) {
	secret := c.Secret
	switch {
	case secret != "" && c.SecretFile != "":
		return nil, nil, errors.New("give --webhook-secret or --webhook-secret-file, not both")
	case c.SecretFile != "":
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--webhook-secret-file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	case secret == "":
		return nil, nil, errors.New("--webhook-url needs --webhook-secret or --webhook-secret-file; make a secret with `presenced gen-webhook-secret`")
	}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		return nil, nil, err
	}
	types, err := webhook.ParseTypes(c.Events)
	if err != nil {
		return nil, nil, err
	}
	return key, types, nil
}

// stats answers GET /v1/stats. The store counts users and sessions with
// its writes; on Redis it also keeps each node's connection count as of
// its last lease renewal, while on the embedded store this node has every
// connection (docs/protocol.md).
func (s *Server) stats(ctx context.Context) (httpapi.Stats, error) {
	rooms, err := s.hub.OccupiedRooms(ctx)
	if err != nil {
		return httpapi.Stats{}, err
	}
	st := httpapi.Stats{Rooms: int64(rooms), NodeConnections: int64(s.hub.ClientCount())}
	conns := st.NodeConnections
	online, sessions, err := s.be.counts.Counts(ctx)
	if rs := s.be.shared; rs != nil && err == nil {
		conns, err = rs.Connections(ctx, s.hub.Now())
	}
	if err != nil {
		s.log.Error("store failure", "err", err)
		return httpapi.Stats{}, presence.Errorf(presence.CodeUnavailable, "presence store is unavailable; retry later")
	}
	st.OnlineUsers, st.Sessions, st.Connections = &online, &sessions, &conns
	return st, nil
}
