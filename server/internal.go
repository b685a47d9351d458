package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// internalListener serves what operators and their tools need and clients
// must not reach: metrics and profiles reveal internals, and profiles cost
// CPU. The health probes are served here too, so an orchestrator can probe
// a node whose public port is behind a proxy.
type internalListener struct {
	ln   net.Listener
	http *http.Server
}

// RegisterPprof adds net/http/pprof's handlers under /debug/pprof/ to mux.
func RegisterPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// listenInternal opens the internal listener when InternalAddr is set;
// public serves the probes, so both ports answer them alike.
func (s *Server) listenInternal(public *http.ServeMux, reg prometheus.Gatherer) error {
	if s.cfg.InternalAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.InternalAddr)
	if err != nil {
		return fmt.Errorf("--internal-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", public)
	mux.Handle("GET /readyz", public)
	RegisterPprof(mux)
	s.internal = &internalListener{ln: ln, http: &http.Server{
		Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}}
	return nil
}

// InternalAddr returns the internal listener's address, or "" without one.
func (s *Server) InternalAddr() string {
	if s.internal == nil {
		return ""
	}
	return s.internal.ln.Addr().String()
}

func (l *internalListener) start(log *slog.Logger) {
	if l == nil {
		return
	}
	log.Info("internal listener (metrics, probes, pprof); keep it private", "addr", l.ln.Addr().String())
	go func() { _ = l.http.Serve(l.ln) }()
}

func (l *internalListener) shutdown(ctx context.Context) {
	if l != nil {
		_ = l.http.Shutdown(ctx)
	}
}
