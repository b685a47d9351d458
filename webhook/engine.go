package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Engine delivers the outbox's events: one goroutine and queue per URL,
// so that a failing receiver holds back only its own events. Within a URL
// one message is in flight at a time, which keeps the outbox's order.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	targets []*target
	stop    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// target is one URL's delivery state, owned by its goroutine.
type target struct {
	url, label string
	failing    bool
	// inflight counts the events handed to this target's goroutine and
	// not yet acknowledged, for outboxes that keep no count.
	inflight atomic.Int64
	pending  prometheus.Gauge
	latency  prometheus.Observer
}

// message is a batch of events, signed and retried whole.
type message struct {
	id     string
	body   []byte
	events []Event
	oldest time.Time
}

// New returns an engine; Start runs it.
func New(cfg Config) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), ctx: ctx, cancel: cancel}
	for _, u := range cfg.URLs {
		l := Label(u)
		e.targets = append(e.targets, &target{url: u, label: l,
			pending: cfg.Metrics.Pending.WithLabelValues(l), latency: cfg.Metrics.Latency.WithLabelValues(l)})
	}
	return e, nil
}

var errStopped = errors.New("webhook engine stopped")

// Start runs one delivery goroutine per URL until Close.
func (e *Engine) Start() {
	for _, t := range e.targets {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.run(t)
		}()
	}
}

// Close stops delivering and waits for the goroutines. A message in
// flight is abandoned unacknowledged: a durable outbox hands it out again.
func (e *Engine) Close() {
	select {
	case <-e.stop:
		return
	default:
	}
	close(e.stop)
	e.cancel()
	e.wg.Wait()
}

// Drain waits until every event queued so far is delivered or dropped, or
// ctx ends: a stopping node gives its receivers a chance to get what its
// in-memory outbox holds.
func (e *Engine) Drain(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		idle := true
		for _, t := range e.targets {
			idle = idle && e.pending(t) == 0
		}
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.stop:
			return errStopped // nothing will deliver what is left
		case <-tick.C:
		}
	}
}

func (e *Engine) run(t *target) {
	for {
		msg, ok := e.form(t)
		if !ok {
			return
		}
		if !e.deliver(t, msg) {
			return
		}
	}
}

// wait blocks until the outbox may have events, d passes, or the engine
// stops; it reports false on stop.
func (e *Engine) wait(t *target, d time.Duration) bool {
	var wake <-chan struct{}
	if n, ok := e.cfg.Outbox.(Notifier); ok {
		wake = n.Notify(t.url)
	}
	select {
	case <-e.stop:
		return false
	case <-wake:
	case <-e.cfg.Clock.After(d):
	}
	return true
}

// form reads the outbox until it has BatchMax events, or its first event
// waited BatchWait, and returns them as a message.
func (e *Engine) form(t *target) (*message, bool) {
	var evs []Event
	var first time.Time
	for {
		got, err := e.cfg.Outbox.Pending(e.ctx, t.url, e.cfg.BatchMax-len(evs))
		if err != nil {
			if e.ctx.Err() != nil {
				return nil, false
			}
			e.log.Warn("webhook outbox unreadable; retrying", "url", t.label, "err", err)
		}
		t.inflight.Add(int64(len(got)))
		evs = append(evs, e.dropExpired(t, got)...)
		e.updatePending(t)
		if len(evs) >= e.cfg.BatchMax {
			break
		}
		d := e.cfg.PollInterval
		if len(evs) > 0 {
			now := e.cfg.Clock.Now()
			if first.IsZero() {
				first = now
			}
			d = e.cfg.BatchWait - now.Sub(first)
			if d <= 0 {
				break
			}
		}
		if !e.wait(t, d) {
			return nil, false
		}
	}
	return e.newMessage(evs), true
}

// newMessage encodes evs as one message. Its id is derived from the
// events' ids, so that the same batch formed again (by a node taking over
// a queue) carries the same id.
func (e *Engine) newMessage(evs []Event) *message {
	h := sha256.New()
	oldest := evs[0].Time()
	for i := range evs {
		h.Write([]byte(evs[i].ID))
		h.Write([]byte{0})
		if t := evs[i].Time(); t.Before(oldest) {
			oldest = t
		}
	}
	id := "msg_" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
	body := make([]byte, 0, 64+len(evs)*400)
	body = append(body, `{"id":"`...)
	body = append(body, id...)
	body = append(body, `","time_ms":`...)
	body = strconv.AppendInt(body, e.cfg.Clock.Now().UnixMilli(), 10)
	body = append(body, `,"events":[`...)
	for i := range evs {
		if i > 0 {
			body = append(body, ',')
		}
		body = evs[i].AppendJSON(body)
	}
	body = append(body, "]}"...)
	return &message{id: id, body: body, events: evs, oldest: oldest}
}

// deliver sends msg until a receiver accepts it or it passes MaxAge, then
// acknowledges it. It reports false when the engine stopped first.
func (e *Engine) deliver(t *target, msg *message) bool {
	for attempt := 1; ; attempt++ {
		now := e.cfg.Clock.Now()
		if now.Sub(msg.oldest) > e.cfg.MaxAge {
			e.drop(t, msg.events, fmt.Sprintf("undelivered after %d attempts", attempt-1))
			return true
		}
		err := e.post(t, msg, now)
		if err == nil {
			done := e.cfg.Clock.Now()
			for i := range msg.events {
				ev := &msg.events[i]
				e.cfg.Metrics.Delivered.WithLabelValues(t.label, string(ev.Type)).Inc()
				t.latency.Observe(done.Sub(ev.Time()).Seconds())
			}
			e.ack(t, msg.events)
			if t.failing {
				t.failing = false
				e.log.Info("webhook receiver recovered", "url", t.label, "attempts", attempt)
			}
			return true
		}
		if e.ctx.Err() != nil {
			return false
		}
		if !t.failing {
			t.failing = true
			e.log.Warn("webhook receiver failing; retrying with backoff until it recovers or events pass --webhook-max-age",
				"url", t.label, "err", err, "events", len(msg.events))
		}
		if !e.sleep(e.backoff(attempt)) {
			return false
		}
		for i := range msg.events {
			e.cfg.Metrics.Retried.WithLabelValues(t.label, string(msg.events[i].Type)).Inc()
		}
	}
}

// backoff is the wait after the attempt-th failure: full jitter over an
// exponential bound from RetryMin to RetryMax.
func (e *Engine) backoff(attempt int) time.Duration {
	bound := e.cfg.RetryMax
	if attempt < 40 {
		bound = min(e.cfg.RetryMin<<(attempt-1), e.cfg.RetryMax)
	}
	return e.cfg.Jitter(bound)
}

func (e *Engine) sleep(d time.Duration) bool {
	select {
	case <-e.stop:
		return false
	case <-e.cfg.Clock.After(d):
		return true
	}
}

// post makes one attempt; any 2xx is success.
func (e *Engine) post(t *target, msg *message, now time.Time) error {
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(msg.body))
	if err != nil {
		return err
	}
	setHeaders(req.Header, e.cfg.Key, msg.id, now, msg.body)
	resp, err := e.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	// Drain a little so the connection can be reused; a receiver's long
	// answer is not worth reading.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", strings.TrimSpace(resp.Status))
	}
	return nil
}

// dropExpired drops the events of evs already past MaxAge (read from a
// backlog) and returns the rest.
func (e *Engine) dropExpired(t *target, evs []Event) []Event {
	now := e.cfg.Clock.Now()
	kept := evs[:0]
	var old []Event
	for _, ev := range evs {
		if now.Sub(ev.Time()) > e.cfg.MaxAge {
			old = append(old, ev)
		} else {
			kept = append(kept, ev)
		}
	}
	if len(old) > 0 {
		e.drop(t, old, "already past --webhook-max-age when read")
	}
	return kept
}

func (e *Engine) drop(t *target, evs []Event, why string) {
	for i := range evs {
		e.cfg.Metrics.Dropped.WithLabelValues(t.label, string(evs[i].Type)).Inc()
	}
	e.log.Warn("webhook events dropped", "url", t.label, "events", len(evs), "reason", why)
	e.ack(t, evs)
}

func (e *Engine) ack(t *target, evs []Event) {
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	if err := e.cfg.Outbox.Ack(e.ctx, t.url, ids); err != nil && e.ctx.Err() == nil {
		e.log.Warn("webhook outbox acknowledgement failed; the events may be delivered again", "url", t.label, "err", err)
	}
	t.inflight.Add(-int64(len(evs)))
	e.updatePending(t)
}

func (e *Engine) updatePending(t *target) { t.pending.Set(float64(e.pending(t))) }

// pending is how many of t's events await delivery: the outbox's count
// when it keeps one (the events it handed out are counted until
// acknowledged, so nothing is missed between the two), else those handed
// to this engine.
func (e *Engine) pending(t *target) int {
	if b, ok := e.cfg.Outbox.(Backlogger); ok {
		return b.Backlog(t.url)
	}
	return int(t.inflight.Load())
}
