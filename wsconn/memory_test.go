package wsconn_test

// Memory per idle connection, measured with real sockets on loopback.
//
// Not run by default: it opens 15,000 connections. Run it, without the race
// detector (which inflates memory), with:
//
//	PRESENCED_MEMTEST=1 go test -run TestMemoryPerIdleConnection -v ./wsconn/
//
// The server runs in the test process; the clients run in a child process
// (this test binary again, running TestMemoryClientProcess) so that client
// memory does not count. The figure is the growth of the server process's
// resident anonymous memory (RssAnon) per connection, after a GC that returns
// freed memory to the OS, compared with a baseline taken after a warm-up
// round of connections.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/wsconn"
)

const (
	memtestEnv      = "PRESENCED_MEMTEST"
	memClientAddr   = "PRESENCED_MEMTEST_CLIENT_ADDR"
	memClientCount  = "PRESENCED_MEMTEST_CLIENT_COUNT"
	memtestConns    = 15000 // the machine allows 20,000 open files per process
	memtestWarmup   = 1000
	memtestDeadline = 3 * time.Minute
)

type idleHandler struct{ closed *atomic.Int64 }

func (idleHandler) OnMessage(*wsconn.Conn, []byte) {}
func (idleHandler) OnPong(*wsconn.Conn)            {}
func (h idleHandler) OnClose(*wsconn.Conn, error)  { h.closed.Add(1) }

// procStatus returns a field of /proc/self/status in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

type memSample struct {
	rssAnon, rss int64
	heapInuse    uint64
	stackInuse   uint64
	goroutines   int
}

func sampleMemory(t *testing.T) memSample {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{
		rssAnon:    procStatus(t, "RssAnon"),
		rss:        procStatus(t, "VmRSS"),
		heapInuse:  ms.HeapInuse,
		stackInuse: ms.StackInuse,
		goroutines: runtime.NumGoroutine(),
	}
}

// startClients runs n idle clients in a child process. Closing the returned
// stdin ends them.
func startClients(t *testing.T, addr string, n int) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryClientProcess$", "-test.v")
	cmd.Env = append(os.Environ(), memClientAddr+"="+addr, memClientCount+"="+strconv.Itoa(n))
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd, stdin
}

func waitCount(t *testing.T, what string, v *atomic.Int64, want int64, deadline time.Time) {
	t.Helper()
	for v.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %d of %d", what, v.Load(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMemoryPerIdleConnection(t *testing.T) {
	if os.Getenv(memtestEnv) != "1" {
		t.Skip("set " + memtestEnv + "=1 to run (opens 15,000 loopback connections)")
	}
	deadline := time.Now().Add(memtestDeadline)

	srv, err := wsconn.NewServer(wsconn.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var upgraded, closed atomic.Int64
	h := idleHandler{closed: &closed}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := srv.Upgrade(w, r, h, nil); err == nil {
				upgraded.Add(1)
			}
		}),
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = srv.Shutdown(ctx)
	})
	addr := ln.Addr().String()

	// Warm-up: fill pools, grow maps and runtime structures once.
	_, warmStdin := startClients(t, addr, memtestWarmup)
	waitCount(t, "warm-up upgrades", &upgraded, memtestWarmup, deadline)
	_ = warmStdin.Close()
	waitCount(t, "warm-up closes", &closed, memtestWarmup, deadline)

	before := sampleMemory(t)
	upgraded.Store(0)
	start := time.Now()
	_, stdin := startClients(t, addr, memtestConns)
	waitCount(t, "upgrades", &upgraded, memtestConns, deadline)
	elapsed := time.Since(start)
	after := sampleMemory(t)
	if c := closed.Load(); c != memtestWarmup {
		t.Fatalf("%d connections closed while idle", c-memtestWarmup)
	}

	per := func(a, b int64) float64 { return float64(a-b) / memtestConns }
	t.Logf("%d idle connections upgraded in %v", memtestConns, elapsed.Round(time.Millisecond))
	t.Logf("RssAnon: %d -> %d KiB: %.0f bytes/connection", before.rssAnon>>10, after.rssAnon>>10, per(after.rssAnon, before.rssAnon))
	t.Logf("VmRSS:   %d -> %d KiB: %.0f bytes/connection", before.rss>>10, after.rss>>10, per(after.rss, before.rss))
	t.Logf("Go HeapInuse: %.0f bytes/connection; StackInuse: %.0f bytes/connection; goroutines %d -> %d",
		per(int64(after.heapInuse), int64(before.heapInuse)),
		per(int64(after.stackInuse), int64(before.stackInuse)),
		before.goroutines, after.goroutines)
	if g := after.goroutines - before.goroutines; g > 100 {
		t.Errorf("%d more goroutines with %d idle connections: per-connection goroutines?", g, memtestConns)
	}
	if b := per(after.rssAnon, before.rssAnon); b > 4096 {
		t.Errorf("%.0f bytes per idle connection, target is 4096", b)
	}

	_ = stdin.Close()
	waitCount(t, "closes", &closed, memtestWarmup+memtestConns, deadline)
}

// TestMemoryClientProcess is the client side of TestMemoryPerIdleConnection,
// run in a child process. It opens the connections with minimal raw
// handshakes, reports, then holds them idle until stdin is closed.
func TestMemoryClientProcess(t *testing.T) {
	addr := os.Getenv(memClientAddr)
	if addr == "" {
		t.Skip("child process of TestMemoryPerIdleConnection")
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("refusing non-loopback address %q", addr)
	}
	n, err := strconv.Atoi(os.Getenv(memClientCount))
	if err != nil || n <= 0 || n > memtestConns {
		t.Fatalf("bad count %q", os.Getenv(memClientCount))
	}
	// Exit on our own if the parent disappears or forgets us.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	time.AfterFunc(memtestDeadline+time.Minute, func() { os.Exit(2) })

	conns := make([]net.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := dialWebSocket(addr)
				if err != nil {
					if failed.Add(1) < 5 {
						fmt.Fprintf(os.Stderr, "memtest client: %v\n", err)
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d connections failed", f, n)
	}
	fmt.Fprintf(os.Stderr, "memtest client: %d connections open\n", n)
	select {} // until stdin closes
}

func dialWebSocket(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET / HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key[:]) + "\r\n\r\n"
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		_ = c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		_ = c.Close()
		return nil, fmt.Errorf("handshake: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
