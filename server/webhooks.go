package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/presenced/presenced/httpapi"
	"github.com/presenced/presenced/metrics"
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
	outbox *webhook.Memory
	types  []webhook.Type
}

// openWebhooks checks the configuration and builds the engine (not yet
// started).
func openWebhooks(c *WebhookConfig, m *metrics.Webhooks, log *slog.Logger) (*webhooks, error) {
	if len(c.URLs) == 0 {
		if c.Secret != "" || c.SecretFile != "" || c.Events != "" {
			return nil, errors.New("--webhook-secret, --webhook-secret-file or --webhook-events given without --webhook-url")
		}
		return &webhooks{}, nil
	}
	secret := c.Secret
	switch {
	case secret != "" && c.SecretFile != "":
		return nil, errors.New("give --webhook-secret or --webhook-secret-file, not both")
	case c.SecretFile != "":
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("--webhook-secret-file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	case secret == "":
		return nil, errors.New("--webhook-url needs --webhook-secret or --webhook-secret-file; make a secret with `presenced gen-webhook-secret`")
	}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	types, err := webhook.ParseTypes(c.Events)
	if err != nil {
		return nil, err
	}
	outbox := webhook.NewMemory(c.URLs, 0, func(target string, ev *webhook.Event) {
		m.Dropped.WithLabelValues(webhook.Label(target), string(ev.Type)).Inc()
	})
	e, err := webhook.New(webhook.Config{
		URLs: c.URLs, Key: key, Outbox: outbox,
		Timeout: c.Timeout, MaxAge: c.MaxAge, BatchMax: c.BatchMax, BatchWait: c.BatchWait,
		RetryMin: c.RetryMin, RetryMax: c.RetryMax,
		Logger: log, Metrics: m,
	})
	if err != nil {
		return nil, err
	}
	return &webhooks{engine: e, outbox: outbox, types: types}, nil
}

func (w *webhooks) add() func(evs ...webhook.Event) {
	if w.outbox == nil {
		return nil
	}
	return w.outbox.Add
}

// stats answers GET /v1/stats. On the embedded store this node makes
// every change, so its counters are the deployment's; on Redis the
// cluster-wide user, session and connection counts are left null until
// nodes share their transitions (docs/protocol.md).
func (s *Server) stats(ctx context.Context) (httpapi.Stats, error) {
	rooms, err := s.hub.OccupiedRooms(ctx)
	if err != nil {
		return httpapi.Stats{}, err
	}
	st := httpapi.Stats{Rooms: int64(rooms), NodeConnections: int64(s.hub.ClientCount())}
	if s.cfg.RedisURL == "" {
		online, sessions, conns := s.trans.online.Load(), s.trans.sessions.Load(), st.NodeConnections
		st.OnlineUsers, st.Sessions, st.Connections = &online, &sessions, &conns
	}
	return st, nil
}
