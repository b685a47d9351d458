package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/presenced/presenced/presence"
)

// LimitConcurrent serves at most n requests at a time and answers the
// others at once with 503 unavailable and Retry-After: 1, the usual answer
// of an overloaded server that a client retries with backoff (429 would
// tell one client to slow down, but the cause is everyone's load). A
// request never waits for a slot: a queue would only hold the memory the
// cap exists to bound. WebSocket upgrades (bounded by the gateway's own
// admission) and /healthz (a liveness probe must not fail because the node
// is busy) are not counted.
func LimitConcurrent(next http.Handler, n int, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/ws" || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, log, presence.Errorf(presence.CodeUnavailable, "more than %d HTTP requests in progress; retry later", n))
			return
		}
		defer func() { <-slots }()
		next.ServeHTTP(w, r)
	})
}
