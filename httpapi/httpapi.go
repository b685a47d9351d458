// Package httpapi serves presenced's HTTP API for backends: presence reads
// and writes, disconnects, health and metrics.
package httpapi

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
	"github.com/presenced/presenced/protocol"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// Config configures the API.
type Config struct {
	Hub *hub.Hub
	// APIKey authorizes backends. Empty means only user tokens work, for
	// the reads that accept them.
	APIKey string
	// Verifier checks user JWTs presented as bearer tokens on reads.
	Verifier *auth.Verifier
	// Privacy serves the per-user settings endpoints. Nil answers them
	// with unavailable.
	Privacy *privacy.Service
	// Ready reports whether the node can serve; nil means always.
	Ready    func() error
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// Stats answers GET /v1/stats; nil answers unavailable.
	Stats func(ctx context.Context) (Stats, error)
}

// API is the HTTP API.
type API struct {
	cfg Config
	log *slog.Logger
}

// New returns the API.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &API{cfg: cfg, log: cfg.Logger}
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/presence/{user_id}", a.getPresence)
	mux.HandleFunc("POST /v1/presence/bulk", a.bulk)
	mux.HandleFunc("PUT /v1/presence/{user_id}/status", a.backendOnly(a.putStatus))
	mux.HandleFunc("DELETE /v1/presence/{user_id}/sessions", a.backendOnly(a.deleteSessions))
	a.registerUsers(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	a.registerRooms(mux)
	a.registerControl(mux)
	if a.cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
}

// caller returns who is asking: "" for a backend holding the API key, or
// the user id of a valid user token.
func (a *API) caller(r *http.Request) (viewer string, err error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return "", presence.Errorf(presence.CodeUnauthorized, "missing Authorization: Bearer <api key or user token>")
	}
	if a.cfg.APIKey != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.APIKey)) == 1 {
		return "", nil
	}
	if a.cfg.Verifier != nil && strings.Count(tok, ".") == 2 {
		id, err := a.cfg.Verifier.Verify(tok)
		if err != nil {
			return "", err
		}
		return id.UserID, nil
	}
	return "", presence.Errorf(presence.CodeUnauthorized, "invalid API key")
}

func (a *API) backendOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		viewer, err := a.caller(r)
		if err != nil {
			writeError(w, a.log, err)
			return
		}
		if viewer != "" {
			writeError(w, a.log, presence.Errorf(presence.CodeForbidden, "this endpoint needs the API key"))
			return
		}
		next(w, r)
	}
}

func (a *API) getPresence(w http.ResponseWriter, r *http.Request) {
	viewer, err := a.caller(r)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	id := r.PathValue("user_id")
	ps, err := a.cfg.Hub.Presences(r.Context(), viewer, []string{id})
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, ps[id])
}

func (a *API) bulk(w http.ResponseWriter, r *http.Request) {
	viewer, err := a.caller(r)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	var req bulkRequest
	if err := decodeBulk(r, &req); err != nil {
		writeError(w, a.log, err)
		return
	}
	buf := bulkBuffers.Get().(*[]byte)
	defer bulkBuffers.Put(buf)
	b := append((*buf)[:0], `{"presences":`...)
	b, err = a.cfg.Hub.AppendPresencesJSON(r.Context(), viewer, req.UserIDs, b)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	if cap(b) <= maxPooledBulk {
		*buf = b
	}
}

// bulkBuffers recycles the encoding buffers of bulk reads: a read of 1,000
// users writes about 300 KB, and allocating that per request made the
// garbage collector run every few requests.
var bulkBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// maxPooledBulk keeps an unusually large answer out of the pool.
const maxPooledBulk = 1 << 20

func (a *API) putStatus(w http.ResponseWriter, r *http.Request) {
	var msg protocol.ClientMessage
	if err := decode(r, &msg); err != nil {
		writeError(w, a.log, err)
		return
	}
	ch, err := msg.StatusChange()
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	p, err := a.cfg.Hub.SetStatus(r.Context(), r.PathValue("user_id"), ch)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *API) deleteSessions(w http.ResponseWriter, r *http.Request) {
	if err := a.cfg.Hub.Kick(r.Context(), r.PathValue("user_id")); err != nil {
		writeError(w, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) readyz(w http.ResponseWriter, _ *http.Request) {
	if a.cfg.Ready != nil {
		if err := a.cfg.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
