//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/presenced/presenced/server"
)

// These tests drive the worker protocol in process against a real server,
// with a handful of connections: they check the tool's bookkeeping, they
// are not load.

type testWorker struct {
	t      *testing.T
	in     io.Writer
	out    *bufio.Scanner
	nextID int
	events []event
}

func startTestWorker(t *testing.T, addr string) *testWorker {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- runWorker(inR, outW); outW.Close() }()
	t.Cleanup(func() {
		inW.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("worker did not exit")
		}
	})
	cfg, _ := json.Marshal(groupConfig{URL: "http://" + addr, Device: "bench", TimeLimit: time.Minute})
	if _, err := inW.Write(append(cfg, '\n')); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(outR)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	return &testWorker{t: t, in: inW, out: sc}
}

func (w *testWorker) call(op string, args, out any) {
	w.t.Helper()
	w.nextID++
	req := request{ID: w.nextID, Op: op}
	if args != nil {
		req.Args, _ = json.Marshal(args)
	}
	b, _ := json.Marshal(req)
	if _, err := w.in.Write(append(b, '\n')); err != nil {
		w.t.Fatal(err)
	}
	for w.out.Scan() {
		var l line
		if err := json.Unmarshal(w.out.Bytes(), &l); err != nil {
			w.t.Fatal(err)
		}
		if l.Event != "" {
			w.events = append(w.events, l.event)
			continue
		}
		if l.ID != req.ID {
			w.t.Fatalf("%s: reply to %d, want %d", op, l.ID, req.ID)
		}
		if l.Error != "" {
			w.t.Fatalf("%s: %s", op, l.Error)
		}
		if out != nil {
			if err := json.Unmarshal(l.Result, out); err != nil {
				w.t.Fatal(err)
			}
		}
		return
	}
	w.t.Fatalf("%s: worker output ended", op)
}

// poll calls op until ok accepts its result.
func poll[T any](w *testWorker, op string, ok func(T) bool) T {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var v T
		w.call(op, nil, &v)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: condition not met; last %+v", op, v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startBenchServer(t *testing.T) string {
	t.Helper()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Dev: true, DataDir: t.TempDir(), OfflineGrace: 200 * time.Millisecond,
		TickInterval: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv.Addr()
}

func TestWorkerFanoutChurnAndDetect(t *testing.T) {
	addr := startBenchServer(t)
	subs, pub := startTestWorker(t, addr), startTestWorker(t, addr)

	var op openReply
	pub.call("open", openArgs{Prefix: "p", Count: 1, Session: true}, &op)
	subs.call("open", openArgs{Prefix: "u", Count: 3, Total: 3, Ring: 2, Session: true, Also: []string{"p-0"}}, &op)
	if op.Opened != 3 || op.Welcome.OfflineGraceMS != 200 {
		t.Fatalf("open = %+v", op)
	}
	poll(subs, "stats", func(s statsReply) bool { return s.Open == 3 })

	subs.call("fan_arm", fanArmArgs{Expect: 3}, nil)
	pub.call("publish", publishArgs{Change: 0, Status: "busy"}, nil)
	lat := poll(subs, "fan_report", func(m map[int][]int64) bool { return len(m[0]) == 3 })
	for _, ns := range lat[0] {
		if ns <= 0 || ns > int64(5*time.Second) {
			t.Fatalf("latency %d ns", ns)
		}
	}
	if len(subs.events) != 1 || subs.events[0].Event != "fanout_done" {
		t.Fatalf("events = %+v", subs.events)
	}

	// A reconnect within the grace shows nobody offline.
	subs.call("arm", nil, nil)
	var ch churnReply
	subs.call("churn", churnArgs{Window: 50 * time.Millisecond, InTime: 200 * time.Millisecond}, &ch)
	if ch.Dropped != 3 || ch.Reconnected != 3 || ch.Failed != 0 {
		t.Fatalf("churn = %+v", ch)
	}
	s := poll(subs, "stats", func(s statsReply) bool { return s.Open == 3 })
	if s.OfflineSeen != 0 || len(s.Closes) != 0 {
		t.Fatalf("after churn: %+v", s)
	}

	// A clean close is seen as offline after the grace, last seen at the close.
	var closed map[string]int64
	pub.call("close", map[string]bool{"clean": true}, &closed)
	seen := poll(subs, "watch_report", func(m map[string]offlineSeen) bool { _, ok := m["p-0"]; return ok })
	o := seen["p-0"]
	after := time.Duration(o.RecvNS - closed["p-0"])
	if after < 200*time.Millisecond || after > 5*time.Second {
		t.Fatalf("offline seen %s after the close, want just after the 200ms grace", after)
	}
	if d := o.LastSeenMS - closed["p-0"]/1e6; d < -1000 || d > 1000 {
		t.Fatalf("last_seen %d ms from the close", d)
	}
}
