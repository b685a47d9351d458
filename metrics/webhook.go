package metrics

import "github.com/prometheus/client_golang/prometheus"

// Webhooks holds the webhook delivery collectors. URLs are labelled
// without credentials or query (see webhook.Label).
type Webhooks struct {
	// Pending is the events waiting for a URL: in its outbox queue and in
	// the message being delivered.
	Pending   *prometheus.GaugeVec
	Delivered *prometheus.CounterVec
	// Retried counts events sent again after a failed attempt.
	Retried *prometheus.CounterVec
	// Dropped counts events given up: past the maximum age, or pushed out
	// of a full in-memory outbox.
	Dropped *prometheus.CounterVec
	// Latency is the time from an event to its delivery being acknowledged.
	Latency *prometheus.HistogramVec
}

// NewWebhooks creates the webhook collectors and registers them with reg
// (nil: unregistered).
func NewWebhooks(reg prometheus.Registerer) *Webhooks {
	w := &Webhooks{
		Pending:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "presenced_webhook_events_pending", Help: "Webhook events waiting for delivery, by URL."}, []string{"url"}),
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_webhook_events_delivered_total", Help: "Webhook events acknowledged by a receiver (2xx), by URL and type."}, []string{"url", "type"}),
		Retried:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_webhook_events_retried_total", Help: "Webhook events sent again after a failed attempt, by URL and type."}, []string{"url", "type"}),
		Dropped:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_webhook_events_dropped_total", Help: "Webhook events given up (past the maximum age or out of outbox room), by URL and type."}, []string{"url", "type"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "presenced_webhook_delivery_latency_seconds",
			Help:    "Time from a presence change to its webhook being acknowledged, by URL.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		}, []string{"url"}),
	}
	if reg != nil {
		reg.MustRegister(w.Pending, w.Delivered, w.Retried, w.Dropped, w.Latency)
	}
	return w
}
