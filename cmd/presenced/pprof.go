package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/presenced/presenced/server"
)

// servePprof serves the runtime profiles on their own listener, apart from
// the public port: profiles reveal internals and cost CPU, so they are off
// unless --pprof-addr names an address (keep it on loopback). The internal
// listener (--internal-addr) serves them too; --pprof-addr stays for setups
// that want profiles and nothing else on a port.
func servePprof(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	server.RegisterPprof(mux)
	log.Warn("pprof profiles served; keep this address private", "addr", ln.Addr().String())
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}
