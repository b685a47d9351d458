// Command rooms measures room presence against a real presenced process on
// 127.0.0.1: the time from a join to the last member receiving it, and the
// server CPU spent on large-room summaries. It starts the server binary
// itself (build it first), opens the members' WebSocket connections, and
// stops everything when done.
//
//	go build -o /tmp/presenced ./cmd/presenced
//	go run ./bench/rooms -server /tmp/presenced -members 1000 -announce-max 1001
//	go run ./bench/rooms -server /tmp/presenced -members 10000 -mode summary-cpu
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/client"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rooms:", err)
		os.Exit(1)
	}
}

type config struct {
	server, mode    string
	members, rounds int
	announceMax     int
	interval        time.Duration
	churn           int
	window          time.Duration
}

func run() error {
	var cfg config
	flag.StringVar(&cfg.server, "server", "", "path of the presenced binary to start (required)")
	flag.StringVar(&cfg.mode, "mode", "latency", "latency: join → last member; summary-cpu: server CPU on summaries")
	flag.IntVar(&cfg.members, "members", 1000, "members in the room")
	flag.IntVar(&cfg.rounds, "rounds", 5, "latency: joins measured (the median is reported)")
	flag.IntVar(&cfg.announceMax, "announce-max", 100, "--room-announce-max of the server")
	flag.DurationVar(&cfg.interval, "summary-interval", 2*time.Second, "--room-summary-interval of the server")
	flag.IntVar(&cfg.churn, "churn", 50, "summary-cpu: joins plus leaves per second during the window")
	flag.DurationVar(&cfg.window, "window", 20*time.Second, "summary-cpu: how long CPU is measured")
	flag.Parse()
	if cfg.server == "" {
		return errors.New("-server is required: go build -o /tmp/presenced ./cmd/presenced")
	}
	if cfg.members < 1 || cfg.members > 15000 {
		return errors.New("-members must be between 1 and 15000 (open files are limited)")
	}
	switch cfg.mode {
	case "latency":
		return latency(cfg)
	case "summary-cpu":
		with, err := summaryCPU(cfg, cfg.interval)
		if err != nil {
			return err
		}
		// The same churn with summaries that never come due in the window.
		without, err := summaryCPU(cfg, time.Hour)
		if err != nil {
			return err
		}
		fmt.Printf("server CPU on summaries at %d members: %.1f ms per second (%.1f%% of one core)\n",
			cfg.members, (with-without)*1000, (with-without)*100)
		return nil
	}
	return fmt.Errorf("unknown -mode %q", cfg.mode)
}

// node is a running server process.
type node struct {
	cmd  *exec.Cmd
	base string
}

func startNode(cfg config, interval time.Duration) (*node, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(cfg.server, "--dev", "--addr", addr, "--log-level", "warn",
		"--room-announce-max", strconv.Itoa(cfg.announceMax),
		"--room-summary-interval", interval.String(),
		"--max-room-members", strconv.Itoa(cfg.members+1000))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &node{cmd: cmd, base: "http://" + addr}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := http.Get(n.base + "/healthz"); err == nil {
			resp.Body.Close()
			return n, nil
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, errors.New("server did not become healthy within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *node) stop() {
	_ = n.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
}

// cpuSeconds returns the process's user+system CPU time.
func (n *node) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start at ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // clock ticks; 100 per second on Linux
}

// watch is what the members look for: a user's id in a room_join or a
// room_summary.
type watch struct {
	needle  []byte
	pending atomic.Int64
	last    atomic.Int64 // unix nanos of the latest receipt
	done    chan struct{}
}

type room struct {
	name      string
	target    atomic.Pointer[watch]
	summaries atomic.Int64
	conns     []*client.Conn
}

func (r *room) onMessage(m client.Message) {
	if m.Type != "room_join" && m.Type != "room_summary" {
		return
	}
	if m.Type == "room_summary" {
		r.summaries.Add(1)
	}
	w := r.target.Load()
	if w == nil || !bytes.Contains(m.Raw, w.needle) {
		return
	}
	now := time.Now().UnixNano()
	for {
		old := w.last.Load()
		if now <= old || w.last.CompareAndSwap(old, now) {
			break
		}
	}
	if w.pending.Add(-1) == 0 {
		close(w.done)
	}
}

// fill opens n members' connections and joins them to the room.
func fill(ctx context.Context, base string, r *room, prefix string, n int) error {
	r.conns = make([]*client.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				c, err := client.Dial(ctx, base, client.Options{UserID: fmt.Sprintf("%s%05d", prefix, i), Device: "web", OnMessage: r.onMessage})
				if err == nil {
					_, err = c.JoinRoom(ctx, r.name, map[string]any{"mode": "viewing"})
				}
				if err != nil {
					errs <- err
					return
				}
				r.conns[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (r *room) close() {
	for _, c := range r.conns {
		if c != nil {
			c.Drop()
		}
	}
}

func latency(cfg config) error {
	n, err := startNode(cfg, cfg.interval)
	if err != nil {
		return err
	}
	defer n.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := &room{name: "bench"}
	start := time.Now()
	if err := fill(ctx, n.base, r, "m", cfg.members); err != nil {
		return err
	}
	defer r.close()
	fmt.Printf("%d members joined in %s (announce max %d)\n", cfg.members, time.Since(start).Round(time.Millisecond), cfg.announceMax)
	time.Sleep(cfg.interval + time.Second) // let the last summary go out
	var got []time.Duration
	for i := range cfg.rounds {
		user := fmt.Sprintf("joiner%d", i)
		j, err := client.Dial(ctx, n.base, client.Options{UserID: user, Device: "web"})
		if err != nil {
			return err
		}
		w := &watch{needle: []byte(strconv.Quote(user)), done: make(chan struct{})}
		w.pending.Store(int64(cfg.members))
		r.target.Store(w)
		t0 := time.Now()
		if err := j.SendRaw(ctx, []byte(`{"type":"join_room","room":"bench"}`)); err != nil {
			return err
		}
		select {
		case <-w.done:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("round %d: %d members never heard of the join", i, w.pending.Load())
		}
		d := time.Duration(w.last.Load() - t0.UnixNano())
		got = append(got, d)
		fmt.Printf("round %d: join → last of %d members %s\n", i+1, cfg.members, d.Round(10*time.Microsecond))
		r.target.Store(nil)
		if err := j.LeaveRoom(ctx, "bench"); err != nil {
			return err
		}
		j.Drop()
		time.Sleep(300 * time.Millisecond) // the leave reaches everyone

	}
	slices.Sort(got)
	fmt.Printf("median of %d: %s\n", len(got), got[len(got)/2].Round(10*time.Microsecond))
	return nil
}

// summaryCPU runs a room of cfg.members with cfg.churn joins and leaves a
// second and returns the server's CPU seconds per second over the window.
func summaryCPU(cfg config, interval time.Duration) (float64, error) {
	n, err := startNode(cfg, interval)
	if err != nil {
		return 0, err
	}
	defer n.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r := &room{name: "hall"}
	start := time.Now()
	if err := fill(ctx, n.base, r, "m", cfg.members); err != nil {
		return 0, err
	}
	defer r.close()
	churners := &room{name: "hall"}
	if err := fill(ctx, n.base, churners, "c", cfg.churn); err != nil {
		return 0, err
	}
	defer churners.close()
	fmt.Printf("[interval %s] %d members and %d churners joined in %s\n", interval, cfg.members, cfg.churn, time.Since(start).Round(time.Millisecond))
	time.Sleep(cfg.interval + 2*time.Second) // the joins' summary, then quiet
	r.summaries.Store(0)
	cpu0, err := n.cpuSeconds()
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(cfg.churn))
	in := make([]bool, cfg.churn)
	for i := range in {
		in[i] = true
	}
	for i := 0; time.Since(t0) < cfg.window; i = (i + 1) % cfg.churn {
		<-tick.C
		c := churners.conns[i]
		if in[i] {
			err = c.LeaveRoom(ctx, "hall")
		} else {
			_, err = c.JoinRoom(ctx, "hall", nil)
		}
		if err != nil {
			return 0, err
		}
		in[i] = !in[i]
	}
	tick.Stop()
	cpu1, err := n.cpuSeconds()
	if err != nil {
		return 0, err
	}
	perSec := (cpu1 - cpu0) / time.Since(t0).Seconds()
	fmt.Printf("[interval %s] server CPU %.3f s/s over %s with %d joins+leaves/s; %d room_summary frames received (%.1f per member)\n",
		interval, perSec, time.Since(t0).Round(time.Millisecond), cfg.churn, r.summaries.Load(), float64(r.summaries.Load())/float64(cfg.members))
	return perSec, nil
}
