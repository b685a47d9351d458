package wsconn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/wsconn"
)

// waitFor polls cond until it holds or the deadline passes.

// recorder is a Handler that records what it sees.
type recorder struct {
	mu       sync.Mutex
	msgs     [][]byte
	closeErr error

	pongs  atomic.Int32
	closes atomic.Int32
	closed chan struct{}

	onMessage func(c *wsconn.Conn, data []byte) // optional extra behaviour
}

func newRecorder() *recorder { return &recorder{closed: make(chan struct{})} }

func (r *recorder) OnMessage(c *wsconn.Conn, data []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, append([]byte(nil), data...))
	r.mu.Unlock()
	if r.onMessage != nil {
		r.onMessage(c, data)
	}
}

func (r *recorder) OnPong(*wsconn.Conn) { r.pongs.Add(1) }

func (r *recorder) OnClose(_ *wsconn.Conn, err error) {
	r.mu.Lock()
	r.closeErr = err
	r.mu.Unlock()
	if r.closes.Add(1) == 1 {
		close(r.closed)
	}
}

func (r *recorder) messages() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.msgs...)
}

// waitClosed waits for OnClose and returns its error as a *CloseError, or
// nil with the raw error.
func (r *recorder) waitClosed(t *testing.T) (*wsconn.CloseError, error) {
	t.Helper()
	select {
	case <-r.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("OnClose not called")
	}
	r.mu.Lock()
	err := r.closeErr
	r.mu.Unlock()
	var ce *wsconn.CloseError
	if errors.As(err, &ce) {
		return ce, err
	}
	return nil, err
}

type upgraded struct {
	c *wsconn.Conn
	h *recorder
}

// env is a Server behind an httptest server. Each upgrade gets a fresh
// recorder from newHandler (or a plain one) and is reported on ch.
type env struct {
	t   *testing.T
	srv *wsconn.Server
	hs  *httptest.Server
	ch  chan upgraded

	mu   sync.Mutex
	recs []*recorder
}

func newEnv(t *testing.T, cfg wsconn.Config, newHandler func() *recorder) *env {
	t.Helper()
	srv, err := wsconn.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, ch: make(chan upgraded, 1024)}
	e.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := newRecorder()
		if newHandler != nil {
			h = newHandler()
		}
		c, err := srv.Upgrade(w, r, h, nil)
		if err != nil {
			t.Errorf("Upgrade: %v", err)
			return
		}
		c.SetValue(r.URL.Path)
		e.mu.Lock()
		e.recs = append(e.recs, h)
		e.mu.Unlock()
		e.ch <- upgraded{c, h}
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.hs.Close()
		// After Shutdown no callback may run again: each connection has
		// had exactly one OnClose.
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, h := range e.recs {
			if n := h.closes.Load(); n != 1 {
				t.Errorf("connection %d: OnClose called %d times", i, n)
			}
		}
	})
	return e
}

func (e *env) dial(path string) (*websocket.Conn, upgraded) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, _, err := websocket.Dial(ctx, "ws://"+e.hs.Listener.Addr().String()+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	cc.SetReadLimit(1 << 20)
	e.t.Cleanup(func() { _ = cc.CloseNow() })
	select {
	case u := <-e.ch:
		return cc, u
	case <-time.After(10 * time.Second):
		e.t.Fatal("server did not report the upgrade")
	}
	return nil, upgraded{}
}

func ctx10s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readClose reads until the connection fails and returns the close status
// and the error.
func readClose(t *testing.T, cc *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	ctx := ctx10s(t)
	for {
		_, _, err := cc.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			t.Fatalf("read ended without a close frame: %v", err)
		}
	}
}

func TestEcho(t *testing.T) {
	e := newEnv(t, wsconn.Config{}, func() *recorder {
		r := newRecorder()
		r.onMessage = func(c *wsconn.Conn, data []byte) {
			if err := c.WriteText(data); err != nil {
				t.Errorf("WriteText: %v", err)
			}
		}
		return r
	})
	cc, u := e.dial("/echo")
	if got := u.c.Value(); got != "/echo" {
		t.Fatalf("Value() = %v", got)
	}
	if !strings.HasPrefix(u.c.RemoteAddr(), "127.0.0.1:") {
		t.Fatalf("RemoteAddr() = %q", u.c.RemoteAddr())
	}
	ctx := ctx10s(t)
	// Empty messages are not delivered (see Handler.OnMessage): the echo
	// of the next message is the next thing the client reads.
	if err := cc.Write(ctx, websocket.MessageText, nil); err != nil {
		t.Fatal(err)
	}
	sizes := []int{1, 125, 126, 1000, 65535, 65536 - 100}
	for i, n := range sizes {
		msg := bytes.Repeat([]byte{byte('a' + i)}, n)
		if err := cc.Write(ctx, websocket.MessageText, msg); err != nil {
			t.Fatal(err)
		}
		typ, got, err := cc.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != websocket.MessageText || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: got type %v, %d bytes; want %d bytes", i, typ, len(got), n)
		}
	}
	if err := cc.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatal(err)
	}
	ce, err := u.h.waitClosed(t)
	if ce == nil || ce.Code != wsconn.CloseNormal || ce.Reason != "done" || !ce.Remote {
		t.Fatalf("OnClose err = %v", err)
	}
	if got := len(u.h.messages()); got != len(sizes) {
		t.Fatalf("OnMessage called %d times, want %d", got, len(sizes))
	}
	if err := u.c.WriteText([]byte("late")); !errors.Is(err, wsconn.ErrClosed) {
		t.Fatalf("WriteText after close = %v", err)
	}
}

func TestConcurrentWriteText(t *testing.T) {
	e := newEnv(t, wsconn.Config{}, nil)
	cc, u := e.dial("/")
	const writers, each = 32, 200
	shared := []byte("shared-buffer") // the same slice goes to every write
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var err error
				if i%2 == 0 {
					err = u.c.WriteText([]byte(fmt.Sprintf("w%d-%d", w, i)))
				} else {
					err = u.c.WriteText(shared)
				}
				if err != nil {
					t.Errorf("WriteText: %v", err)
					return
				}
			}
		}()
	}
	ctx := ctx10s(t)
	seen := map[string]bool{}
	sharedCount := 0
	for n := 0; n < writers*each; n++ {
		_, msg, err := cc.Read(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		if string(msg) == string(shared) {
			sharedCount++
			continue
		}
		if seen[string(msg)] {
			t.Fatalf("duplicate %q", msg)
		}
		seen[string(msg)] = true
	}
	wg.Wait()
	if len(seen) != writers*each/2 || sharedCount != writers*each/2 {
		t.Fatalf("got %d distinct and %d shared messages", len(seen), sharedCount)
	}
	for w := 0; w < writers; w++ {
		for i := 0; i < each; i += 2 {
			if !seen[fmt.Sprintf("w%d-%d", w, i)] {
				t.Fatalf("missing w%d-%d", w, i)
			}
		}
	}
}

func TestPingPong(t *testing.T) {
	e := newEnv(t, wsconn.Config{}, nil)
	cc, u := e.dial("/")
	// The client answers pings while it reads.
	readCtx := cc.CloseRead(context.Background())
	if err := u.c.Ping(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "OnPong", func() bool { return u.h.pongs.Load() == 1 })

	// And the server answers the client's pings.
	if err := cc.Ping(ctx10s(t)); err != nil {
		t.Fatalf("client ping: %v", err)
	}
	u.c.Close(wsconn.CloseNormal, "")
	<-readCtx.Done()
	if ce, err := u.h.waitClosed(t); ce == nil || ce.Code != wsconn.CloseNormal || ce.Remote {
		t.Fatalf("OnClose err = %v", err)
	}
}

func TestOversizeMessage(t *testing.T) {
	e := newEnv(t, wsconn.Config{MaxMessageBytes: 1024}, nil)
	cc, u := e.dial("/")
	ctx := ctx10s(t)
	if err := cc.Write(ctx, websocket.MessageText, []byte(strings.Repeat("x", 1024))); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "message at the limit", func() bool { return len(u.h.messages()) == 1 })
	// Writing may fail once the server has closed its side; the close frame
	// is what counts.
	_ = cc.Write(ctx, websocket.MessageText, []byte(strings.Repeat("x", 200<<10)))
	code, _ := readClose(t, cc)
	if code != websocket.StatusMessageTooBig {
		t.Fatalf("client saw close code %d, want 1009", code)
	}
	ce, err := u.h.waitClosed(t)
	if ce == nil || ce.Code != wsconn.CloseMessageTooBig || ce.Remote {
		t.Fatalf("OnClose err = %v", err)
	}
	if n := len(u.h.messages()); n != 1 {
		t.Fatalf("OnMessage called %d times", n)
	}
}

func TestBinaryMessageCloses1003(t *testing.T) {
	e := newEnv(t, wsconn.Config{}, nil)
	cc, u := e.dial("/")
	if err := cc.Write(ctx10s(t), websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if code, _ := readClose(t, cc); code != websocket.StatusUnsupportedData {
		t.Fatalf("client saw close code %d, want 1003", code)
	}
	if ce, err := u.h.waitClosed(t); ce == nil || ce.Code != wsconn.CloseUnsupportedData {
		t.Fatalf("OnClose err = %v", err)
	}
	if n := len(u.h.messages()); n != 0 {
		t.Fatalf("OnMessage called %d times for a binary message", n)
	}
}

func TestCloseSendsCodeAndReason(t *testing.T) {
	e := newEnv(t, wsconn.Config{}, nil)
	cc, u := e.dial("/")
	u.c.Close(wsconn.ClosePolicyViolation, "token expired")
	u.c.Close(wsconn.CloseNormal, "second close is a no-op")
	code, reason := readClose(t, cc)
	if code != websocket.StatusPolicyViolation || reason != "token expired" {
		t.Fatalf("client saw %d %q", code, reason)
	}
	ce, err := u.h.waitClosed(t)
	if ce == nil || ce.Code != wsconn.ClosePolicyViolation || ce.Reason != "token expired" || ce.Remote {
		t.Fatalf("OnClose err = %v", err)
	}
	if err := u.c.WriteText([]byte("x")); !errors.Is(err, wsconn.ErrClosed) {
		t.Fatalf("WriteText after Close = %v", err)
	}
}

func TestClientDropCallsOnCloseOnce(t *testing.T) {
	e := newEnv(t, wsconn.Config{}, nil)
	cc, u := e.dial("/")
	_ = cc.CloseNow() // no close frame
	_, err := u.h.waitClosed(t)
	if err == nil {
		t.Fatal("OnClose err is nil")
	}
	u.c.Close(wsconn.CloseNormal, "") // after the fact: no effect
}

func TestSlowConsumer(t *testing.T) {
	const maxPending = 64 << 10
	e := newEnv(t, wsconn.Config{MaxPendingBytes: maxPending, CloseTimeout: 5 * time.Second}, nil)
	cc, u := e.dial("/")
	msg := bytes.Repeat([]byte("s"), 4096)
	var err error
	written := 0
	// The client does not read: first the kernel buffers fill up, then
	// nbio's queue. 256 MB is far beyond any loopback socket buffer.
	for written < 256<<20 {
		if err = u.c.WriteText(msg); err != nil {
			break
		}
		written += len(msg)
	}
	if !errors.Is(err, wsconn.ErrSlowConsumer) {
		t.Fatalf("after %d bytes, WriteText = %v; want ErrSlowConsumer", written, err)
	}
	hw := u.c.HighWater()
	t.Logf("wrote %d bytes before the bound; pending high water %d", written, hw)
	if hw > maxPending+int64(len(msg))+16 {
		t.Fatalf("pending reached %d, bound is %d", hw, maxPending)
	}
	if hw < maxPending-int64(2*len(msg)) {
		t.Fatalf("pending high water %d: the queue never filled", hw)
	}
	if err := u.c.WriteText(msg); !errors.Is(err, wsconn.ErrClosed) {
		t.Fatalf("WriteText after slow consumer = %v", err)
	}
	// Now the client reads: it gets what was queued, then the close frame.
	code, reason := readClose(t, cc)
	if code != wsconn.CloseSlowConsumer {
		t.Fatalf("client saw close %d %q, want %d", code, reason, wsconn.CloseSlowConsumer)
	}
	ce, cerr := u.h.waitClosed(t)
	if ce == nil || ce.Code != wsconn.CloseSlowConsumer || ce.Remote {
		t.Fatalf("OnClose err = %v", cerr)
	}
}

func TestSlowConsumerNeverReads(t *testing.T) {
	// The client never reads at all: the close timer drops it.
	e := newEnv(t, wsconn.Config{MaxPendingBytes: 32 << 10, CloseTimeout: 100 * time.Millisecond}, nil)
	_, u := e.dial("/")
	msg := bytes.Repeat([]byte("s"), 1000)
	for i := 0; i < 1<<20; i++ {
		if err := u.c.WriteText(msg); err != nil {
			if !errors.Is(err, wsconn.ErrSlowConsumer) {
				t.Fatal(err)
			}
			break
		}
	}
	if hw := u.c.HighWater(); hw > 32<<10 {
		t.Fatalf("pending reached %d", hw)
	}
	ce, err := u.h.waitClosed(t)
	if ce == nil || ce.Code != wsconn.CloseSlowConsumer {
		t.Fatalf("OnClose err = %v", err)
	}
}

func TestWriteTextLargerThanBound(t *testing.T) {
	e := newEnv(t, wsconn.Config{MaxPendingBytes: 1024}, nil)
	_, u := e.dial("/")
	if err := u.c.WriteText(make([]byte, 2048)); !errors.Is(err, wsconn.ErrMessageTooLarge) {
		t.Fatalf("WriteText = %v", err)
	}
	if err := u.c.WriteText([]byte("still open")); err != nil {
		t.Fatalf("WriteText = %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use (a log sink).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPanicInOnMessage(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	e := newEnv(t, wsconn.Config{Logger: logger}, func() *recorder {
		r := newRecorder()
		r.onMessage = func(c *wsconn.Conn, data []byte) {
			if string(data) == "boom" {
				panic("handler bug")
			}
			_ = c.WriteText(data)
		}
		return r
	})
	bad, ub := e.dial("/bad")
	good, ug := e.dial("/good")
	ctx := ctx10s(t)
	if err := bad.Write(ctx, websocket.MessageText, []byte("boom")); err != nil {
		t.Fatal(err)
	}
	if code, _ := readClose(t, bad); code != websocket.StatusInternalError {
		t.Fatalf("client saw close code %d, want 1011", code)
	}
	if ce, err := ub.h.waitClosed(t); ce == nil || ce.Code != wsconn.CloseInternalError {
		t.Fatalf("OnClose err = %v", err)
	}
	// The other connection still works.
	if err := good.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := good.Read(ctx); err != nil || string(msg) != "hello" {
		t.Fatalf("good connection: %q %v", msg, err)
	}
	if n := ug.h.closes.Load(); n != 0 {
		t.Fatalf("good connection closed (%d)", n)
	}
	if l := logs.String(); !strings.Contains(l, "handler panic") || !strings.Contains(l, "handler bug") {
		t.Fatalf("panic not logged; log:\n%s", l)
	}
}

func TestUpgradeRejectsPlainHTTP(t *testing.T) {
	srv, err := wsconn.NewServer(wsconn.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	h := newRecorder()
	if _, err := srv.Upgrade(rec, req, h, nil); err == nil {
		t.Fatal("Upgrade of a plain request succeeded")
	}
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d", rec.Code)
	}
	if h.closes.Load() != 0 {
		t.Fatal("OnClose called for a failed upgrade")
	}
}

// ourGoroutines returns the goroutines running nbio or wsconn code, by
// goroutine header line ("goroutine 12 [...]:"), minus those in except.
// (Importing nbio's websocket package starts two permanent task-pool
// goroutines for its DefaultEngine; the baseline taken before a test
// excludes them.)
func ourGoroutines(except map[string]bool) map[string]string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "github.com/lesismal/nbio") &&
			!(strings.Contains(g, "presenced/wsconn.") && !strings.Contains(g, "wsconn_test.")) {
			continue
		}
		id, _, _ := strings.Cut(g, " [")
		if !except[id] {
			out[id] = g
		}
	}
	return out
}

func goroutineIDs(m map[string]string) map[string]bool {
	ids := map[string]bool{}
	for id := range m {
		ids[id] = true
	}
	return ids
}

func TestShutdown(t *testing.T) {
	// Baseline: nbio's package-level goroutines, and whatever earlier tests
	// left running (they end on their own; this test only counts its own).
	before := goroutineIDs(ourGoroutines(nil))
	base := runtime.NumGoroutine()

	srv, err := wsconn.NewServer(wsconn.Config{Pollers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan upgraded, 8)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := newRecorder()
		h.onMessage = func(c *wsconn.Conn, data []byte) { _ = c.WriteText(data) }
		c, err := srv.Upgrade(w, r, h, nil)
		if errors.Is(err, wsconn.ErrServerClosed) {
			return
		}
		if err != nil {
			t.Errorf("Upgrade: %v", err)
			return
		}
		ch <- upgraded{c, h}
	}))
	const n = 4
	var clients []*websocket.Conn
	var ups []upgraded
	ctx := ctx10s(t)
	for i := 0; i < n; i++ {
		cc, _, err := websocket.Dial(ctx, "ws://"+hs.Listener.Addr().String()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cc)
		ups = append(ups, <-ch)
		if err := cc.Write(ctx, websocket.MessageText, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cc.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(ourGoroutines(before)) == 0 {
		t.Fatal("no engine goroutine found before Shutdown: the leak check would be vacuous")
	}

	codes := make(chan websocket.StatusCode, n)
	for _, cc := range clients {
		go func() {
			for {
				if _, _, err := cc.Read(context.Background()); err != nil {
					codes <- websocket.CloseStatus(err)
					return
				}
			}
		}()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, u := range ups {
		if n := u.h.closes.Load(); n != 1 {
			t.Fatalf("OnClose called %d times by the time Shutdown returned", n)
		}
		if ce, err := u.h.waitClosed(t); ce == nil || ce.Code != wsconn.CloseServiceRestart {
			t.Fatalf("OnClose err = %v", err)
		}
	}
	for i := 0; i < n; i++ {
		if code := <-codes; code != websocket.StatusServiceRestart {
			t.Fatalf("client saw close code %d, want 1012", code)
		}
	}
	if err := ups[0].c.WriteText([]byte("x")); !errors.Is(err, wsconn.ErrClosed) {
		t.Fatalf("WriteText after Shutdown = %v", err)
	}
	// Upgrades are refused now.
	if _, _, err := websocket.Dial(ctx, "ws://"+hs.Listener.Addr().String()+"/", nil); err == nil {
		t.Fatal("dial after Shutdown succeeded")
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	hs.Close()
	for _, cc := range clients {
		_ = cc.CloseNow()
	}

	deadline := time.Now().Add(10 * time.Second)
	for len(ourGoroutines(before)) > 0 || runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			var leaked []string
			for _, g := range ourGoroutines(before) {
				leaked = append(leaked, g)
			}
			t.Fatalf("goroutines: %d, baseline %d; still running:\n%s",
				runtime.NumGoroutine(), base, strings.Join(leaked, "\n\n"))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Events that arrive between the 101 response and the return of Upgrade are
// queued and delivered afterwards, in order, and a close in that window
// still yields exactly one OnClose. The hook holds Upgrade until the frames
// have arrived; no Handler method may run before the hook has finished.
func TestEventsBeforeUpgradeReturnsAreQueued(t *testing.T) {
	for _, closeEarly := range []bool{false, true} {
		t.Run(fmt.Sprintf("closeEarly=%v", closeEarly), func(t *testing.T) {
			want := 3 // text messages
			if closeEarly {
				want = 4 // and the transport-closed event
			}
			var released, tooEarly atomic.Bool
			wsconn.SetAfterTransferHook(func(c *wsconn.Conn) {
				deadline := time.Now().Add(10 * time.Second)
				for c.EarlyEvents() < want && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				released.Store(true)
			})
			t.Cleanup(func() { wsconn.SetAfterTransferHook(nil) })

			e := newEnv(t, wsconn.Config{}, func() *recorder {
				r := newRecorder()
				r.onMessage = func(*wsconn.Conn, []byte) {
					if !released.Load() {
						tooEarly.Store(true)
					}
				}
				return r
			})
			ctx := ctx10s(t)
			var u upgraded
			done := make(chan struct{})
			go func() { defer close(done); u = <-e.ch }()
			cc, _, err := websocket.Dial(ctx, "ws://"+e.hs.Listener.Addr().String()+"/early", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.CloseNow()
			for _, m := range []string{"one", "two", "three"} {
				if err := cc.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			if closeEarly {
				_ = cc.CloseNow()
			}
			<-done
			if closeEarly {
				if _, err := u.h.waitClosed(t); !errors.Is(err, wsconn.ErrConnectionLost) {
					t.Fatalf("OnClose err = %v", err)
				}
			} else {
				poll.Until(t, "messages", func() bool { return len(u.h.messages()) == 3 })
			}
			var got []string
			for _, m := range u.h.messages() {
				got = append(got, string(m))
			}
			if strings.Join(got, ",") != "one,two,three" {
				t.Fatalf("messages %q", got)
			}
			if tooEarly.Load() {
				t.Fatal("OnMessage ran before Upgrade returned")
			}
		})
	}
}

// nbio's pollers reset their stop flag when their goroutine starts, so an
// engine stopped right after starting could hang; NewServer waits for them.
func TestShutdownRightAfterNewServer(t *testing.T) {
	for _, pollers := range []int{1, 2, 3, 8} {
		for i := 0; i < 10; i++ {
			srv, err := wsconn.NewServer(wsconn.Config{Pollers: pollers})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = srv.Shutdown(ctx)
			cancel()
			if err != nil {
				t.Fatalf("pollers=%d: Shutdown: %v", pollers, err)
			}
		}
	}
}

// TLS connections cannot be moved into the poller: Upgrade refuses them
// (TLS is terminated in front of presenced).
func TestUpgradeRefusesTLS(t *testing.T) {
	srv, err := wsconn.NewServer(wsconn.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	errs := make(chan error, 1)
	h := newRecorder()
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := srv.Upgrade(w, r, h, nil)
		errs <- err
	}))
	defer hs.Close()
	ctx := ctx10s(t)
	cc, _, err := websocket.Dial(ctx, "wss://"+hs.Listener.Addr().String()+"/", &websocket.DialOptions{HTTPClient: hs.Client()})
	if err == nil {
		_ = cc.CloseNow()
		t.Fatal("TLS dial succeeded")
	}
	if err := <-errs; err == nil {
		t.Fatal("Upgrade accepted a TLS connection")
	}
	if h.closes.Load() != 0 {
		t.Fatal("OnClose called for a refused upgrade")
	}
}
