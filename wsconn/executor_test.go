package wsconn_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/wsconn"
)

// blocker is a handler behaviour that holds every message until release
// is closed, and records how many run at once.
type blocker struct {
	release       chan struct{}
	running, peak atomic.Int32
}

func newBlocker() *blocker { return &blocker{release: make(chan struct{})} }

func (b *blocker) onMessage(*wsconn.Conn, []byte) {
	n := b.running.Add(1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-b.release
	b.running.Add(-1)
}

// oneMessageEach waits until each connection's handler has had one message.
func oneMessageEach(t *testing.T, all []upgraded) {
	t.Helper()
	poll.Until(t, "every message", func() bool {
		for _, u := range all {
			if len(u.h.messages()) != 1 {
				return false
			}
		}
		return true
	})
}

// Handlers that wait hold at most HandlerWorkers goroutines; the other
// connections wait in the queue, which the server reports, and are handled
// once workers are free.
func TestHandlersRunOnABoundedPool(t *testing.T) {
	const workers, conns = 2, 6
	b := newBlocker()
	e := newEnv(t, wsconn.Config{HandlerWorkers: workers}, func() *recorder {
		r := newRecorder()
		r.onMessage = b.onMessage
		return r
	})
	var all []upgraded
	for i := range conns {
		cc, u := e.dial(fmt.Sprintf("/c%d", i))
		all = append(all, u)
		if err := cc.Write(ctx10s(t), websocket.MessageText, []byte("wait")); err != nil {
			t.Fatal(err)
		}
	}
	// Each waiting connection has a task queued; nbio may queue a
	// connection's opening apart from its first message, so there may be
	// more tasks than waiting connections.
	poll.Until(t, "the other connections to queue", func() bool {
		return b.running.Load() == workers && e.srv.QueuedHandlers() >= conns-workers
	})
	close(b.release)
	oneMessageEach(t, all)
	if p := b.peak.Load(); p > workers {
		t.Fatalf("%d handlers ran at once, want at most %d", p, workers)
	}
	if q := e.srv.QueuedHandlers(); q != 0 {
		t.Fatalf("queue holds %d after the handlers ran", q)
	}
}

// A connection that keeps sending while its handler waits is closed with
// 1013 once more than MaxQueuedEvents of its events wait, and only it.
func TestTooManyQueuedEventsCloses1013(t *testing.T) {
	b := newBlocker()
	e := newEnv(t, wsconn.Config{MaxQueuedEvents: 8}, func() *recorder {
		r := newRecorder()
		r.onMessage = func(c *wsconn.Conn, data []byte) {
			if string(data) == "wait" {
				b.onMessage(c, data)
			}
		}
		return r
	})
	flood, fu := e.dial("/flood")
	calm, cu := e.dial("/calm")
	if err := flood.Write(ctx10s(t), websocket.MessageText, []byte("wait")); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the handler to wait", func() bool { return b.running.Load() == 1 })
	ctx := ctx10s(t)
	go func() {
		// Until the close arrives: a burst that fits one read is only
		// judged after that read.
		for flood.Write(ctx, websocket.MessageText, []byte("more")) == nil {
		}
	}()
	if code, _ := readClose(t, flood); code != wsconn.CloseTryAgainLater {
		t.Fatalf("close code %d, want 1013", code)
	}
	close(b.release)
	ce, err := fu.h.waitClosed(t)
	if ce == nil || ce.Code != wsconn.CloseTryAgainLater {
		t.Fatalf("OnClose: %v", err)
	}
	if err := calm.Write(ctx10s(t), websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the other connection's message", func() bool { return len(cu.h.messages()) == 1 })
}

// With every worker busy and the queue full, the next connection's event
// waits (the poller stops reading) instead of being dropped or given a
// goroutine: once the workers are free, every message arrives.
func TestFullHandlerQueueWaitsAndLosesNothing(t *testing.T) {
	b := newBlocker()
	e := newEnv(t, wsconn.Config{HandlerWorkers: 1, HandlerQueue: 1, Pollers: 1}, func() *recorder {
		r := newRecorder()
		r.onMessage = b.onMessage
		return r
	})
	var all []upgraded
	for i := range 4 {
		cc, u := e.dial(fmt.Sprintf("/c%d", i))
		all = append(all, u)
		if err := cc.Write(ctx10s(t), websocket.MessageText, []byte("wait")); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			poll.Until(t, "one running and one queued", func() bool {
				return b.running.Load() == 1 && e.srv.QueuedHandlers() == 1
			})
		}
	}
	if p := b.peak.Load(); p != 1 {
		t.Fatalf("%d handlers ran at once, want 1", p)
	}
	close(b.release)
	oneMessageEach(t, all)
}
