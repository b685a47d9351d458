// Package metrics defines the Prometheus metrics presenced exports.
// Components given no registry use unregistered collectors, so they never
// check for nil.
package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds every collector. Hot paths use the pre-resolved counters.
type Metrics struct {
	Connections prometheus.Gauge
	Sessions    prometheus.Gauge
	Subscribed  prometheus.Gauge
	MessagesIn  *prometheus.CounterVec
	MessagesOut *prometheus.CounterVec
	Deliveries  prometheus.Counter
	Coalesced   prometheus.Counter
	Dropped     *prometheus.CounterVec
	Expiries    *prometheus.CounterVec
	Closes      *prometheus.CounterVec
	Errors      *prometheus.CounterVec
	Panics      prometheus.Counter
	// Refused counts connections refused before the upgrade and
	// subscriptions refused, by the limit that refused them.
	Refused *prometheus.CounterVec
	// HandlerQueue reports the connection events waiting for a handler
	// worker (see SetHandlerQueue).
	HandlerQueue prometheus.GaugeFunc
	// Reasserted counts sessions found missing from a shared store while
	// their connection was open, and written back.
	Reasserted prometheus.Counter

	updateOut  prometheus.Counter
	heartbeats prometheus.Counter
	queueLen   atomic.Pointer[func() int]
}

// New creates the collectors and registers them with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "presenced_connections", Help: "Open WebSocket connections."}),
		Sessions:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "presenced_sessions", Help: "Connections that are presence sessions."}),
		Subscribed:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "presenced_watched_topics", Help: "Users and rooms this node has local watchers for."}),
		MessagesIn:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_messages_in_total", Help: "Client messages received, by type."}, []string{"type"}),
		MessagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_messages_out_total", Help: "Messages sent to clients, by type."}, []string{"type"}),
		Deliveries:  prometheus.NewCounter(prometheus.CounterOpts{Name: "presenced_fanout_deliveries_total", Help: "Presence updates queued to subscribers."}),
		Coalesced:   prometheus.NewCounter(prometheus.CounterOpts{Name: "presenced_fanout_coalesced_total", Help: "Pending updates replaced by a newer one for the same user before being sent."}),
		Dropped:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_fanout_dropped_total", Help: "Updates not sent, by reason (stale, closed)."}, []string{"reason"}),
		Expiries:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_expiries_total", Help: "Sessions ended by the server, by reason (ttl, grace)."}, []string{"reason"}),
		Closes:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_server_closes_total", Help: "Connections closed by the server, by reason."}, []string{"reason"}),
		Errors:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_errors_total", Help: "Error replies, by code."}, []string{"code"}),
		Panics:      prometheus.NewCounter(prometheus.CounterOpts{Name: "presenced_panics_total", Help: "Panics recovered while handling a connection."}),
		Reasserted:  prometheus.NewCounter(prometheus.CounterOpts{Name: "presenced_sessions_reasserted_total", Help: "Sessions missing from the store while connected (lost or ended elsewhere during an outage), written back."}),
		Refused:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_refused_total", Help: "Connections and subscriptions refused by a limit, by limit (max_connections, max_connections_per_user, watched_per_user)."}, []string{"limit"}),
	}
	m.HandlerQueue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "presenced_handler_queue", Help: "Connection events waiting for a handler worker."}, func() float64 {
		if f := m.queueLen.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	m.updateOut = m.MessagesOut.WithLabelValues("presence_update")
	m.heartbeats = m.MessagesIn.WithLabelValues("heartbeat")
	if reg != nil {
		reg.MustRegister(m.Connections, m.Sessions, m.Subscribed, m.MessagesIn, m.MessagesOut,
			m.Deliveries, m.Coalesced, m.Dropped, m.Expiries, m.Closes, m.Errors, m.Panics, m.Reasserted,
			m.Refused, m.HandlerQueue)
	}
	return m
}

// SetHandlerQueue sets what the presenced_handler_queue gauge reports: the
// WebSocket engine's queue, known only once it runs.
func (m *Metrics) SetHandlerQueue(f func() int) { m.queueLen.Store(&f) }

// Heartbeat counts a heartbeat received: the commonest message, counted
// without a label lookup.
func (m *Metrics) Heartbeat() { m.heartbeats.Inc() }

// Delivered counts n presence updates queued to subscribers.
func (m *Metrics) Delivered(n int) {
	if n == 0 {
		return
	}
	m.Deliveries.Add(float64(n))
	m.updateOut.Add(float64(n))
}

// Inc increments c's counter for label.
func (m *Metrics) Inc(c *prometheus.CounterVec, label string) {
	c.WithLabelValues(label).Inc()
}

// Add adds d to g.
func (m *Metrics) Add(g prometheus.Gauge, d float64) {
	g.Add(d)
}
