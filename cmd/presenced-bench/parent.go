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
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// worker is the coordinator's handle on one worker process.
type worker struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex // one request at a time
	nextID  int
	replies chan line
	exited  chan struct{}
	stopped bool
}

// workerEvent is an event from a named worker.
type workerEvent struct {
	worker *worker
	event
}

// startWorker starts this program as a worker holding one group.
func startWorker(name string, cfg groupConfig, events chan<- workerEvent) (*worker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "worker")
	cmd.Stderr = os.Stderr
	// The kernel kills the worker if the coordinator dies, even when the
	// worker is stopped (SIGSTOP) at the time.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &worker{name: name, cmd: cmd, stdin: stdin, replies: make(chan line, 1), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				fmt.Fprintf(os.Stderr, "%s: bad line %.200q\n", name, sc.Bytes())
				continue
			}
			if l.Event != "" {
				events <- workerEvent{worker: w, event: l.event}
				continue
			}
			w.replies <- l
		}
		_ = cmd.Wait()
		close(w.exited)
	}()
	b, _ := json.Marshal(cfg)
	if _, err := w.stdin.Write(append(b, '\n')); err != nil {
		w.kill()
		return nil, err
	}
	return w, nil
}

// call sends one request and decodes its result into out (may be nil).
func (w *worker) call(ctx context.Context, op string, args, out any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	req := request{ID: w.nextID, Op: op}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return err
		}
		req.Args = b
	}
	b, _ := json.Marshal(req)
	if _, err := w.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%s: %s: %w", w.name, op, err)
	}
	select {
	case l := <-w.replies:
		if l.ID != req.ID {
			return fmt.Errorf("%s: %s: reply %d to request %d", w.name, op, l.ID, req.ID)
		}
		if l.Error != "" {
			return fmt.Errorf("%s: %s: %s", w.name, op, l.Error)
		}
		if out != nil {
			return json.Unmarshal(l.Result, out)
		}
		return nil
	case <-w.exited:
		return fmt.Errorf("%s: %s: worker exited", w.name, op)
	case <-ctx.Done():
		return fmt.Errorf("%s: %s: %w", w.name, op, ctx.Err())
	}
}

// signal sends sig to the worker process.
func (w *worker) signal(sig syscall.Signal) error { return w.cmd.Process.Signal(sig) }

// stop asks the worker to exit and kills it if it does not within 10s.
func (w *worker) stop() {
	if w.stopped {
		return
	}
	w.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = w.signal(syscall.SIGCONT) // in case it was stopped
	if err := w.call(ctx, "exit", nil, nil); err != nil {
		w.kill()
		return
	}
	_ = w.stdin.Close()
	select {
	case <-w.exited:
	case <-ctx.Done():
		w.kill()
	}
}

// kill ends the worker at once, stopped or not.
func (w *worker) kill() {
	w.stopped = true
	_ = w.cmd.Process.Kill()
	_ = w.stdin.Close()
	select {
	case <-w.exited:
	case <-time.After(5 * time.Second):
	}
}

// callAll runs the same request on every worker at once.
func callAll[T any](ctx context.Context, ws []*worker, op string, args any) ([]T, error) {
	out := make([]T, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.call(ctx, op, args, &out[i])
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
