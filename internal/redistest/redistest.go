// Package redistest runs real redis-server processes for tests: a single
// server or a Redis Cluster built with redis-cli --cluster create, on free
// loopback ports, in temporary directories, killed when the test ends.
//
// redis-server and redis-cli must be on PATH (Debian package redis-server,
// version 7 or later for sharded pub/sub). Without them a test fails with a
// message saying so; it never skips.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/testproc"
)

// Require fails the test unless redis-server and redis-cli are installed.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatal(err)
	}
}

// Available returns an error saying what to install when redis-server or
// redis-cli is missing.
func Available() error {
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found on PATH: these tests need a real Redis 7 (Debian: apt-get install redis-server; .ci/run installs it)", bin)
		}
	}
	return nil
}

// NewServer is Start for a caller that owns the process (a TestMain
// sharing one server between tests): it must call Kill.
func NewServer(dir string, extra ...string) (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	return startFresh(dir, false, extra)
}

// Server is one redis-server process.
type Server struct {
	Port int
	Dir  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL returns the server's --redis-url.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Start runs a standalone redis-server with persistence off. Extra
// arguments are passed as given ("--maxclients", "100").
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	Require(t)
	s, err := startFresh(t.TempDir(), false, extra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	return s
}

func startFresh(dir string, busPort bool, extra []string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var last error
	for range 5 { // another process may take the port between probe and bind
		port, err := freePort(busPort)
		if err != nil {
			return nil, err
		}
		s := &Server{Port: port, Dir: dir}
		s.args = append([]string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--logfile", "redis.log",
			"--protected-mode", "no", "--daemonize", "no",
		}, extra...)
		if last = s.run(); last == nil {
			return s, nil
		}
	}
	return nil, last
}

// run starts the process and waits until it answers PING.
func (s *Server) run() error {
	cmd := exec.Command("redis-server", s.args...)
	cmd.Dir = s.Dir
	if err := testproc.Start(cmd); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if reply, err := DoString(s.Addr(), "PING"); err == nil && reply == "PONG" {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited at start: %s", s.Port, s.logTail())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("redis-server on port %d did not answer PING within 10s: %s", s.Port, s.logTail())
		}
	}
}

// Kill stops the process with SIGKILL and waits for it. It is a no-op when
// the process is not running.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Pause stops the process with SIGSTOP: it keeps its sockets but answers
// nothing, like a frozen machine. Resume undoes it.
func (s *Server) Pause() { s.send(syscall.SIGSTOP) }

// Resume continues a paused process.
func (s *Server) Resume() { s.send(syscall.SIGCONT) }

func (s *Server) send(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
}

// Restart starts a killed server again on the same port and directory. A
// cluster node keeps its identity (nodes.conf) and rejoins the cluster.
func (s *Server) Restart() error {
	s.Kill()
	return s.run()
}

// Running reports whether the process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// freePort returns a loopback port that is free now; with busPort, the
// cluster bus port (port+10000) is free too.
func freePort(busPort bool) (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !busPort {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port pair found")
}
