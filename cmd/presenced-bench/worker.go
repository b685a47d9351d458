//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// A worker is this program re-run with the hidden "worker" argument. It
// holds one group of connections (a process may hold at most 20,000 open
// files, so large runs need several) and obeys the coordinator over its
// stdin and stdout, one JSON object per line: a config line first, then
// requests; it answers each request in order and writes events whenever
// they happen. It exits when its stdin closes, when its time limit passes,
// or with its parent (PR_SET_PDEATHSIG), so it never outlives a run.

type request struct {
	ID   int             `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

// line is one line a worker writes: a response (ID > 0) or an event.
type line struct {
	ID     int             `json:"id,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	event
}

type event struct {
	Event  string `json:"event,omitempty"`
	Change int    `json:"change,omitempty"`
	Count  int    `json:"count,omitempty"`
}

// maxLine bounds one request or response line (watch lists, reports).
const maxLine = 64 << 20

func runWorker(stdin io.Reader, stdout io.Writer) error {
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64<<10), maxLine)
	var outMu sync.Mutex
	out := bufio.NewWriter(stdout)
	emit := func(v any) {
		b, _ := json.Marshal(v)
		outMu.Lock()
		out.Write(append(b, '\n'))
		out.Flush()
		outMu.Unlock()
	}
	if !in.Scan() {
		return errors.New("worker: no config line on stdin")
	}
	var cfg groupConfig
	if err := json.Unmarshal(in.Bytes(), &cfg); err != nil {
		return fmt.Errorf("worker: bad config: %w", err)
	}
	if cfg.TimeLimit <= 0 {
		cfg.TimeLimit = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.TimeLimit)
	defer cancel()
	time.AfterFunc(cfg.TimeLimit+10*time.Second, func() {
		fmt.Fprintln(os.Stderr, "worker: time limit passed; exiting")
		os.Exit(3)
	})
	g, err := newGroup(cfg, func(v any) { emit(v) })
	if err != nil {
		return err
	}
	defer g.poller.Close()
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			return fmt.Errorf("worker: bad request: %w", err)
		}
		if req.Op == "exit" {
			emit(line{ID: req.ID, Result: json.RawMessage("null")})
			return nil
		}
		res, err := g.handle(ctx, req.Op, req.Args)
		l := line{ID: req.ID}
		if err != nil {
			l.Error = err.Error()
		} else if l.Result, err = json.Marshal(res); err != nil {
			l.Error = err.Error()
		}
		emit(l)
	}
	return in.Err()
}

// handle runs one request on the group.
func (g *group) handle(ctx context.Context, op string, args json.RawMessage) (any, error) {
	decode := func(v any) error {
		if len(args) == 0 {
			return nil
		}
		return json.Unmarshal(args, v)
	}
	switch op {
	case "open":
		var a openArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return g.openConns(ctx, a)
	case "heartbeat":
		var a struct {
			PerSecond float64 `json:"per_second"`
		}
		if err := decode(&a); err != nil {
			return nil, err
		}
		g.heartbeat(a.PerSecond)
		return nil, nil
	case "change_status":
		var a struct {
			PerSecond float64 `json:"per_second"`
		}
		if err := decode(&a); err != nil {
			return nil, err
		}
		g.changeStatus(a.PerSecond)
		return nil, nil
	case "stats":
		return g.stats(), nil
	case "arm":
		g.watch.arm()
		return nil, nil
	case "watch_report":
		return g.watch.report(), nil
	case "fan_arm":
		var a fanArmArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		g.fan.arm(a)
		return nil, nil
	case "fan_report":
		return g.fan.report(), nil
	case "publish":
		var a publishArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return g.publish(ctx, a)
	case "churn":
		var a churnArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		return g.churn(ctx, a), nil
	case "close":
		var a struct {
			Clean bool `json:"clean"`
		}
		if err := decode(&a); err != nil {
			return nil, err
		}
		g.heartbeat(0)
		g.changeStatus(0)
		return g.closeAll(a.Clean), nil
	}
	return nil, fmt.Errorf("unknown op %q", op)
}
