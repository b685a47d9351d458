package wsconn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

// Defaults applied to zero Config fields.
const (
	DefaultMaxMessageBytes = 64 << 10
	DefaultMaxPendingBytes = 256 << 10
	DefaultCloseTimeout    = 5 * time.Second
	DefaultReadBufferBytes = 64 << 10
	// DefaultHandlerWorkersPerProc sets the default of Config.HandlerWorkers:
	// enough workers to keep the CPUs busy while many handlers wait on a
	// store round trip (a millisecond or more), at about 8 KB of stack each.
	DefaultHandlerWorkersPerProc = 64
	DefaultHandlerQueue          = 1 << 16
	DefaultMaxQueuedEvents       = 256
)

// Config configures a Server. Every zero field means "use the default"
// documented on it.
type Config struct {
	// MaxMessageBytes is the largest frame, and the largest reassembled
	// message, accepted from a client. Anything larger is refused as soon as
	// its frame header arrives (the payload is never buffered) and the
	// connection is closed with CloseMessageTooBig (1009).
	// Zero means DefaultMaxMessageBytes (64 KiB).
	MaxMessageBytes int

	// MaxPendingBytes bounds the bytes accepted by writes on one connection
	// that the kernel has not taken yet (they sit in nbio's user-space
	// write queue because the socket's send buffer is full). A write that
	// would push the queue past the bound is refused with ErrSlowConsumer
	// and the connection is closed with CloseSlowConsumer (4000, a private
	// code: the client should reconnect and resynchronise because it lost
	// messages). A connection therefore never holds more than
	// MaxPendingBytes of queued output, plus one close frame.
	// Zero means DefaultMaxPendingBytes (256 KiB).
	MaxPendingBytes int

	// CloseTimeout is how long a connection that this server is closing may
	// take to flush its close frame and let the peer finish the closing
	// handshake before the socket is dropped. Zero means
	// DefaultCloseTimeout (5s).
	CloseTimeout time.Duration

	// Pollers is the number of epoll event loops (one goroutine each).
	// Zero means max(1, GOMAXPROCS/4), as nbio does with NumCPU.
	Pollers int

	// ReadBufferBytes is the size of the read buffer of each poller. It is
	// shared by all the connections of that poller, so it costs nothing per
	// connection; partial frames are copied out of it and the copy is freed
	// as soon as the frame is complete. Zero means DefaultReadBufferBytes
	// (64 KiB).
	ReadBufferBytes int

	// HandlerWorkers is the number of goroutines that run Handler methods;
	// at most this many run at once, whatever the number of connections.
	// Zero means DefaultHandlerWorkersPerProc × GOMAXPROCS.
	HandlerWorkers int

	// HandlerQueue bounds the connections whose events wait for a worker
	// while every worker is busy. When it is full, the poller that read
	// the next event waits for room: the sockets of that poller are not
	// read meanwhile (back-pressure; nothing is dropped). Zero means
	// DefaultHandlerQueue (65,536).
	HandlerQueue int

	// MaxQueuedEvents bounds the events (messages, pings, pongs) of one
	// connection waiting for its Handler, which handles them one at a
	// time. A connection that sends faster than its handler keeps up
	// with (its handler waits on a slow store and it does not wait for
	// replies) is closed with CloseTryAgainLater (1013) once more are
	// waiting; the check runs after each read from the socket is parsed,
	// so one read's frames (ReadBufferBytes) may pass the bound before
	// the close. Zero means
	// DefaultMaxQueuedEvents (256).
	MaxQueuedEvents int

	// CheckOrigin decides whether to accept a handshake given its Origin
	// header. Nil means nbio's default: accept requests without Origin, and
	// requests whose Origin host equals the Host header.
	CheckOrigin func(r *http.Request) bool

	// Subprotocols lists the subprotocols the server supports, in order of
	// preference. Nil means none is negotiated (unless responseHeader in
	// Upgrade sets Sec-WebSocket-Protocol).
	Subprotocols []string

	// Logger receives handler panics and other unexpected conditions.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Server owns an nbio engine and the WebSocket connections upgraded into it.
//
// Liveness: wsconn sets no read or write deadline on connections and runs no
// keepalive of its own (nbio's KeepaliveTime is disabled). The caller does
// its own liveness accounting with Conn.Ping, Handler.OnPong and
// Handler.OnMessage, and calls Conn.Close on connections it considers dead.
// The only timer wsconn arms is CloseTimeout, while a connection is closing.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine *nbhttp.Engine
	up     *websocket.Upgrader
	pool   *handlerPool

	// binding maps the remote address of a connection being upgraded to
	// its *Conn, for the engine's open hook (see Upgrade).
	binding sync.Map

	mu        sync.Mutex
	conns     map[*Conn]struct{}
	closed    bool          // Shutdown started: refuse upgrades
	drained   chan struct{} // closed when closed && len(conns) == 0
	upgrading sync.WaitGroup

	stopped  atomic.Bool  // engine stopped: callbacks are no longer delivered by nbio jobs
	inflight atomic.Int64 // Handler calls in progress

	shutdownOnce sync.Once
	shutdownErr  error
	stoppedCh    chan struct{}
}

var nbioGlobalsOnce sync.Once

// setupNbioGlobals adjusts nbio's process-wide settings once:
//   - its logs go to slog (Info and Debug at Debug level, so an engine start
//     or stop does not print to stdout);
//   - MaxOpenFiles, the length of the fd-indexed connection table every
//     engine allocates (2M entries, 16 MB, by default), is capped at the
//     hard RLIMIT_NOFILE, which no fd can exceed.
func setupNbioGlobals() {
	nbioGlobalsOnce.Do(func() {
		logging.SetLogger(slogAdapter{})
		if n := maxFDs(); n > 0 && n < nbio.MaxOpenFiles {
			nbio.MaxOpenFiles = n
		}
	})
}

// NewServer creates a Server and starts its nbio engine (epoll event loops,
// no listener: connections arrive through Upgrade).
func NewServer(cfg Config) (*Server, error) {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = DefaultCloseTimeout
	}
	if cfg.ReadBufferBytes <= 0 {
		cfg.ReadBufferBytes = DefaultReadBufferBytes
	}
	if cfg.HandlerWorkers <= 0 {
		cfg.HandlerWorkers = DefaultHandlerWorkersPerProc * runtime.GOMAXPROCS(0)
	}
	if cfg.HandlerQueue <= 0 {
		cfg.HandlerQueue = DefaultHandlerQueue
	}
	if cfg.MaxQueuedEvents <= 0 {
		cfg.MaxQueuedEvents = DefaultMaxQueuedEvents
	}
	if cfg.Pollers <= 0 {
		cfg.Pollers = runtime.GOMAXPROCS(0) / 4
		if cfg.Pollers < 1 {
			cfg.Pollers = 1
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	setupNbioGlobals()

	s := &Server{
		cfg:       cfg,
		log:       log,
		conns:     make(map[*Conn]struct{}),
		drained:   make(chan struct{}),
		stoppedCh: make(chan struct{}),
	}

	pool := newHandlerPool(cfg.HandlerWorkers, cfg.HandlerQueue)
	engine := nbhttp.NewEngine(nbhttp.Config{
		Name:    "wsconn",
		NPoller: cfg.Pollers,
		// One shared buffer per poller; see Config.ReadBufferBytes.
		ReadBufferSize: cfg.ReadBufferBytes,
		// A partial frame (at most MaxMessageBytes plus a header) plus one
		// read must fit, so that oversized frames are reported as such
		// (close 1009) rather than as a generic read-limit error.
		ReadLimit: cfg.MaxMessageBytes + cfg.ReadBufferBytes + 1024,
		// Backstop only: WriteText keeps the queue under MaxPendingBytes
		// and closes gracefully. If nbio's queue ever got past this it
		// would drop the socket without a close frame.
		MaxWriteBufferSize:      cfg.MaxPendingBytes + 64<<10,
		ReleaseWebsocketPayload: true,
		SupportServerOnly:       true, // no client-side task pool
		ServerExecutor:          pool.run,
	})

	up := websocket.NewUpgrader()
	up.Engine = engine
	// No read deadline: liveness is the caller's (see Server).
	up.KeepaliveTime = 0
	up.MessageLengthLimit = cfg.MaxMessageBytes
	up.ReleasePayload = true
	up.CheckOrigin = cfg.CheckOrigin
	up.Subprotocols = cfg.Subprotocols
	up.OnMessage(s.onWSMessage)
	up.SetPingHandler(s.onWSPing)
	up.SetPongHandler(s.onWSPong)
	up.SetCloseHandler(s.onWSCloseFrame)
	up.OnClose(s.onWSClosed)

	// Text is checked for UTF-8 by Conn (close 1007, queued after pending
	// output like every close of ours): nbio's own check answers 1002 and
	// drops the socket at once, so a peer still sending gets a reset that
	// can destroy the close frame before it is read.
	engine.CheckUtf8 = func([]byte) bool { return true }
	engine.OnOpen(s.onTransferred)
	// Engine-level hooks (every connection of this engine is one of ours).
	engine.Engine.OnData(s.onData)
	engine.Engine.OnWrittenSize(s.onWrittenSize)

	s.engine = engine
	s.up = up
	s.pool = pool
	if err := engine.Start(); err != nil {
		pool.close()
		return nil, err
	}
	if err := s.waitPollersRunning(); err != nil {
		engine.Stop()
		pool.close()
		return nil, err
	}
	return s, nil
}

// pollerProbe is the session of the connections waitPollersRunning uses.
type pollerProbe struct {
	once sync.Once
	seen chan struct{}
}

// waitPollersRunning returns once every poller goroutine has handled an
// event. nbio's poller loop clears its shutdown flag when its goroutine
// starts, so an engine stopped before that point never stops (the poller
// spins and Stop waits for it forever). Waiting here makes Shutdown safe at
// any time after NewServer returns.
func (s *Server) waitPollersRunning() error {
	n := s.cfg.Pollers
	probes := make(map[int]*pollerProbe, n)
	var closers []io.Closer // everything stays open until the probes are done
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	// A connection goes to poller fd % n. Open socket pairs until each
	// poller has one; when an fd lands on a poller already probed, keep it
	// open anyway (and an extra spacer fd) so the next fds shift.
	for tries := 0; len(probes) < n; tries++ {
		if tries > 8*n+16 {
			return errors.New("wsconn: could not reach every poller")
		}
		local, peer, err := socketPair()
		if err != nil {
			return err
		}
		closers = append(closers, peer)
		nc, err := nbio.NBConn(local) // dups the fd and closes local
		if err != nil {
			return err
		}
		closers = append(closers, nc)
		idx := nc.Hash() % n
		if probes[idx] != nil {
			spacer, err := os.Open(os.DevNull)
			if err != nil {
				return err
			}
			closers = append(closers, spacer)
			continue
		}
		p := &pollerProbe{seen: make(chan struct{})}
		nc.SetSession(p)
		if _, err := s.engine.Engine.AddConn(nc); err != nil {
			return err
		}
		probes[idx] = p
		if _, err := peer.Write([]byte{0}); err != nil {
			return err
		}
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for _, p := range probes {
		select {
		case <-p.seen:
		case <-timeout.C:
			return errors.New("wsconn: nbio pollers did not start")
		}
	}
	return nil
}

// Upgrade performs the WebSocket handshake on a request served by net/http,
// then moves the connection into the nbio engine
// (UpgradeAndTransferConnToPoller): from then on no goroutine and no
// per-connection buffer is held for it while it is idle.
//
// h receives the connection's events. No method of h is called before
// Upgrade returns; events that arrive in between are queued and delivered
// right after, in order. If Upgrade returns an error no method of h is ever
// called; otherwise h.OnClose is called exactly once.
//
// The request must come from a net/http server on plain TCP: TLS is
// terminated in front of presenced, because only a *net.TCPConn can be moved
// into the poller. On a handshake error, an HTTP error response has been
// written to w (unless the connection was already hijacked, in which case it
// is closed).
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request, h Handler, responseHeader http.Header) (*Conn, error) {
	if h == nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return nil, errors.New("wsconn: Upgrade with nil Handler")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return nil, ErrServerClosed
	}
	s.upgrading.Add(1)
	s.mu.Unlock()
	defer s.upgrading.Done()

	c := &Conn{srv: s, h: h}
	hw := &hijackWriter{ResponseWriter: w, srv: s, conn: c}
	wsc, err := s.up.UpgradeAndTransferConnToPoller(hw, r, responseHeader)
	if hw.key != nil {
		s.binding.Delete(hw.key)
	}
	if err != nil {
		c.abandon()
		return nil, err
	}
	if c.nb == nil {
		// The open hook did not run (it always does for a transferred
		// connection); bind now. Data that arrived before this point
		// has been refused by onData.
		nc, ok := wsc.Conn.(*nbio.Conn)
		if !ok {
			_ = wsc.Close()
			c.abandon()
			return nil, errors.New("wsconn: connection was not transferred to the poller")
		}
		c.nb = nc
		wsc.SetSession(c)
	}
	if hook := afterTransferHook.Load(); hook != nil {
		(*hook)(c)
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.markReady()
	return c, nil
}

// afterTransferHook, if set (by tests), runs in Upgrade between the
// transfer to the poller and the return of the Conn.
var afterTransferHook atomic.Pointer[func(*Conn)]

// onTransferred runs inside UpgradeAndTransferConnToPoller, on the calling
// goroutine, right after the connection is registered with epoll and before
// the 101 response is written: it binds the nbio connection to our *Conn so
// that any frame the client sends after seeing the 101 finds its Conn.
func (s *Server) onTransferred(nc net.Conn) {
	nbc, ok := nc.(*nbio.Conn)
	if !ok {
		return
	}
	wsc, ok := nbc.Session().(*websocket.Conn)
	if !ok {
		return
	}
	v, ok := s.binding.Load(nbc.RemoteAddr())
	if !ok {
		return
	}
	c := v.(*Conn)
	c.nb = nbc
	wsc.SetSession(c)
}

// hijackWriter wraps the handshake's ResponseWriter to learn the hijacked
// connection's remote address (the key that onTransferred looks up), and to
// refuse clients that pipelined data behind their handshake request.
type hijackWriter struct {
	http.ResponseWriter
	srv      *Server
	conn     *Conn
	key      net.Addr
	hijacked bool
}

func (hw *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := hw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, websocket.ErrUpgradeNotHijacker
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	hw.hijacked = true
	if _, ok := nc.(*net.TCPConn); !ok {
		// nbio would serve it with a goroutine per connection (TLS).
		_ = nc.Close()
		return nil, nil, errNotTCP
	}
	if brw != nil && brw.Reader.Buffered() > 0 {
		// Bytes after the request were read by net/http and would be lost
		// by the transfer; a conforming client never sends them.
		_ = nc.Close()
		return nil, nil, errEarlyData
	}
	hw.key = nc.RemoteAddr()
	hw.srv.binding.Store(hw.key, hw.conn)
	return nc, brw, nil
}

// After a hijack the handshake's error path must not touch the original
// ResponseWriter (net/http would log a misuse).
func (hw *hijackWriter) WriteHeader(code int) {
	if !hw.hijacked {
		hw.ResponseWriter.WriteHeader(code)
	}
}

func (hw *hijackWriter) Write(b []byte) (int, error) {
	if hw.hijacked {
		return 0, http.ErrHijacked
	}
	return hw.ResponseWriter.Write(b)
}

// connOf returns the *Conn bound to an nbio connection, or nil.
func connOf(nc *nbio.Conn) (*websocket.Conn, *Conn) {
	wsc, ok := nc.Session().(*websocket.Conn)
	if !ok {
		return nil, nil
	}
	c, _ := wsc.Session().(*Conn)
	return wsc, c
}

// onData replaces nbio's per-connection data handler for the whole engine so
// that protocol errors end in a graceful close (close frame, then lingering
// until the peer closes) instead of an immediate close that may reset the
// connection before the peer reads the close frame.
func (s *Server) onData(nc *nbio.Conn, data []byte) {
	if p, ok := nc.Session().(*pollerProbe); ok {
		p.once.Do(func() { close(p.seen) })
		return
	}
	wsc, c := connOf(nc)
	if wsc == nil {
		_ = nc.Close()
		return
	}
	if c == nil {
		_ = nc.CloseWithError(errEarlyData)
		return
	}
	if c.discard.Load() {
		return
	}
	ok, refused := c.frames.scan(data)
	if err := wsc.Parse(data[:ok]); err != nil {
		c.onParseError(err)
		return
	}
	if c.ready.Load() && nc.ExecuteLen() > s.cfg.MaxQueuedEvents {
		c.onParseError(errTooManyQueued)
		return
	}
	if refused != nil {
		// Read no further, but let the frames before the refused one be
		// handled first: the close follows them in the connection's queue.
		c.discard.Store(true)
		nc.MustExecute(func() { c.onParseError(refused) })
	}
}

// onWrittenSize is called by nbio, under the nbio connection's lock, each
// time bytes are handed to the kernel.
func (s *Server) onWrittenSize(nc *nbio.Conn, _ []byte, n int) {
	if n <= 0 {
		return
	}
	_, c := connOf(nc)
	if c == nil || !c.ready.Load() {
		return // the 101 response
	}
	w := c.written.Add(int64(n))
	if c.flushWait.Load() && w >= c.submitted.Load() && c.shutWr.CompareAndSwap(false, true) {
		// We hold nc's lock and nc is open, so its fd is still ours.
		shutdownWrite(nc.Hash())
	}
}

func (s *Server) onWSMessage(wsc *websocket.Conn, mt websocket.MessageType, data []byte) {
	if c, ok := wsc.Session().(*Conn); ok {
		k := evText
		if mt != websocket.TextMessage {
			k = evBinary
		}
		c.dispatch(event{kind: k, data: data})
	}
}

func (s *Server) onWSPing(wsc *websocket.Conn, data string) {
	if c, ok := wsc.Session().(*Conn); ok {
		c.dispatch(event{kind: evPing, text: data})
	}
}

func (s *Server) onWSPong(wsc *websocket.Conn, _ string) {
	if c, ok := wsc.Session().(*Conn); ok {
		c.dispatch(event{kind: evPong})
	}
}

func (s *Server) onWSCloseFrame(wsc *websocket.Conn, code int, reason string) {
	if c, ok := wsc.Session().(*Conn); ok {
		c.dispatch(event{kind: evPeerClose, code: code, text: reason})
	}
}

func (s *Server) onWSClosed(wsc *websocket.Conn, err error) {
	if c, ok := wsc.Session().(*Conn); ok {
		c.dispatch(event{kind: evClosed, err: err})
	}
}

// QueuedHandlers returns the connections whose events wait for a handler
// worker (see Config.HandlerWorkers); it is exported as a metric.
func (s *Server) QueuedHandlers() int { return s.pool.queued() }

// enter registers a Handler call; it fails once the engine is stopped.
func (s *Server) enter() bool {
	s.inflight.Add(1)
	if s.stopped.Load() {
		s.inflight.Add(-1)
		return false
	}
	return true
}

func (s *Server) leave() { s.inflight.Add(-1) }

func (s *Server) untrack(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.checkDrainedLocked()
	s.mu.Unlock()
}

func (s *Server) checkDrainedLocked() {
	if s.closed && len(s.conns) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

// Shutdown refuses new upgrades, closes every connection with
// CloseServiceRestart and waits, until ctx is done, for their closing
// handshakes and OnClose calls. Then it stops the nbio engine, waits for
// Handler calls in progress, and calls OnClose for the connections that have
// not had it yet. When Shutdown returns, every goroutine the Server started
// has ended or is about to (a poller or worker returning) and no Handler
// method will be called again. Shutdown returns ctx.Err() if ctx ended
// before the connections closed by themselves; calling it again returns the
// first result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.shutdownErr = s.shutdown(ctx)
		close(s.stoppedCh)
	})
	<-s.stoppedCh
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.upgrading.Wait() // upgrades never block, so this is short

	s.mu.Lock()
	live := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		live = append(live, c)
	}
	s.checkDrainedLocked()
	s.mu.Unlock()
	for _, c := range live {
		c.Close(CloseServiceRestart, "server shutting down")
	}

	var err error
	select {
	case <-s.drained:
	case <-ctx.Done():
		err = ctx.Err()
	}

	// Stop the engine: closes what is left, ends pollers and worker pools.
	// nbio may drop the close jobs still queued, hence the loop below.
	s.engine.Stop()
	s.stopped.Store(true)
	for s.inflight.Load() > 0 {
		if ctx.Err() != nil {
			break // a Handler is blocking; do not wait for it forever
		}
		time.Sleep(time.Millisecond)
	}
	if ctx.Err() == nil {
		s.pool.close()
	} else {
		go s.pool.close() // a worker is stuck in a Handler
	}

	s.mu.Lock()
	live = live[:0]
	for c := range s.conns {
		live = append(live, c)
	}
	s.conns = map[*Conn]struct{}{}
	s.mu.Unlock()
	for _, c := range live {
		c.finishAfterStop()
	}
	return err
}

// slogAdapter sends nbio's printf-style logs to slog.Default().
type slogAdapter struct{}

func (slogAdapter) Debug(format string, v ...any) { logf(slog.LevelDebug, format, v) }
func (slogAdapter) Info(format string, v ...any)  { logf(slog.LevelDebug, format, v) }
func (slogAdapter) Warn(format string, v ...any)  { logf(slog.LevelWarn, format, v) }
func (slogAdapter) Error(format string, v ...any) { logf(slog.LevelError, format, v) }

func logf(level slog.Level, format string, v []any) {
	l := slog.Default()
	if !l.Enabled(context.Background(), level) {
		return
	}
	l.Log(context.Background(), level, "nbio: "+fmt.Sprintf(format, v...))
}
