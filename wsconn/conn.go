package wsconn

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

// Handler receives a connection's events.
//
// Methods are called from the Server's handler workers, one at a time per
// connection and in arrival order (OnClose last). A method may wait (for a
// store round trip, say): it then holds one of Config.HandlerWorkers
// workers, and its connection's later events wait behind it (at most
// Config.MaxQueuedEvents, then the connection is closed with 1013). Other
// connections' events go on while workers are free; when none is, they
// wait in a bounded queue, and past it the pollers stop reading. So a
// method must not wait on anything unbounded (another connection's events,
// above all), and every wait shows as latency for the others. A panic in a
// method is recovered, logged, and closes only that connection with
// CloseInternalError (1011).
//
// No method runs before Upgrade returns the Conn, but one may run right
// after, concurrently with the caller's next statement: state the Handler
// needs from the start belongs in the Handler passed to Upgrade (one per
// connection), or the Handler must accept a nil Value until SetValue has run.
type Handler interface {
	// OnMessage receives one complete, non-empty text message (nbio drops
	// empty messages). data is only valid during the call: copy it to keep
	// it. Messages that arrive after the connection started closing are
	// dropped. Binary messages are never delivered: they close the
	// connection with CloseUnsupportedData (1003).
	OnMessage(c *Conn, data []byte)
	// OnPong reports a pong from the peer: a sign of life.
	OnPong(c *Conn)
	// OnClose is called exactly once per connection returned by Upgrade,
	// after its socket is gone, whatever the cause (close handshake,
	// dropped transport, Conn.Close, Shutdown). err is a *CloseError when a
	// close frame was sent or received, otherwise the transport error, or
	// ErrConnectionLost, or ErrServerClosed.
	OnClose(c *Conn, err error)
}

// Connection states.
const (
	stateOpen    int32 = iota // accepting writes, delivering messages
	stateClosing              // a close frame was sent or received
	stateClosed               // transport gone
)

// Conn is one WebSocket connection. Its methods are safe for concurrent use.
type Conn struct {
	srv *Server
	h   Handler
	nb  *nbio.Conn

	value atomic.Pointer[any]

	// mu serialises writes (so that nothing follows a close frame) and
	// state changes, and guards early, closeInfo and timer.
	mu        sync.Mutex
	early     []event     // events that arrived before Upgrade returned
	closeInfo *CloseError // first close frame sent or received
	timer     *time.Timer // CloseTimeout, while closing

	state     atomic.Int32
	ready     atomic.Bool // Upgrade returned the Conn
	abandoned atomic.Bool // Upgrade failed after the transfer
	hasEarly  atomic.Bool // early is not empty
	discard   atomic.Bool // stop parsing input (after a protocol error)
	frames    frameScanner
	flushWait atomic.Bool // shut the write side down once everything is written
	shutWr    atomic.Bool // write side shut down
	closeDone atomic.Bool // OnClose delivered (or owed to nobody)

	// Output accounting: pending = submitted - written. submitted changes
	// under mu; written is advanced by the engine's OnWrittenSize hook.
	submitted atomic.Int64
	written   atomic.Int64
	highWater atomic.Int64 // largest pending seen right after a write was accepted
}

type eventKind uint8

const (
	evNone eventKind = iota
	evText
	evBinary
	evPing
	evPong
	evPeerClose
	evClosed
)

type event struct {
	kind eventKind
	code int
	text string
	data []byte
	err  error
}

// maxEarlyEvents bounds the events queued between the 101 response and the
// return of Upgrade (normally zero or one).
const maxEarlyEvents = 64

// SetValue stores v in the connection's single slot for caller state.
func (c *Conn) SetValue(v any) { c.value.Store(&v) }

// Value returns what SetValue stored last, or nil.
func (c *Conn) Value() any {
	if p := c.value.Load(); p != nil {
		return *p
	}
	return nil
}

// RemoteAddr returns the peer's address (host:port) as seen by the socket.
func (c *Conn) RemoteAddr() string {
	if c.nb == nil {
		return ""
	}
	if a := c.nb.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// PendingBytes returns the bytes accepted by writes that the kernel has not
// taken yet (see Config.MaxPendingBytes).
func (c *Conn) PendingBytes() int {
	p := c.submitted.Load() - c.written.Load()
	if p < 0 {
		return 0
	}
	return int(p)
}

// WriteText queues b as one text message and returns without waiting for
// the socket: if the kernel's send buffer has room the frame goes straight
// to it, otherwise nbio keeps the rest and sends it when the socket becomes
// writable.
//
// WriteText does not retain b: the frame is built from a copy before
// WriteText returns. So one encoded buffer may be passed to WriteText on
// many connections, concurrently; it only must not be modified while those
// calls are running.
//
// Errors: ErrClosed if the connection is closing or closed; ErrSlowConsumer
// if accepting b would put more than Config.MaxPendingBytes in the queue (the
// connection is then closed with CloseSlowConsumer); ErrMessageTooLarge if
// b's frame alone exceeds MaxPendingBytes (the connection stays open).
// Safe for concurrent use.
func (c *Conn) WriteText(b []byte) error {
	return c.writeBounded(opText, b)
}

// Ping sends a ping control frame with an empty payload. The peer's pong is
// reported by Handler.OnPong. It counts toward MaxPendingBytes like
// WriteText and returns the same errors.
func (c *Conn) Ping() error {
	return c.writeBounded(opPing, nil)
}

// Close sends a close frame with code and reason, then closes the
// connection: the socket's write side is shut down once the close frame has
// been written, and the socket is closed when the peer answers or after
// Config.CloseTimeout. Writes fail with ErrClosed from now on and incoming
// messages are dropped. Handler.OnClose follows, with a *CloseError carrying
// code and reason. Close is idempotent: only the first close (from any
// cause) sends a frame.
//
// code must be a code that may be sent (1000-1003, 1007-1014, 3000-4999);
// any other value is sent as CloseInternalError. reason is cut to 123 bytes.
func (c *Conn) Close(code int, reason string) {
	if !validSendCode(code) {
		code = CloseInternalError
	}
	c.closeLocal(code, truncateReason(reason))
}

// Frame opcodes.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// frameLen is the size of an unmasked server frame with n payload bytes.
func frameLen(n int) int {
	switch {
	case n < 126:
		return 2 + n
	case n <= 0xFFFF:
		return 4 + n
	default:
		return 10 + n
	}
}

// putFrame encodes a final, unmasked frame into dst, which must be
// frameLen(len(payload)) bytes long.
func putFrame(dst []byte, op byte, payload []byte) {
	dst[0] = 0x80 | op
	n := len(payload)
	var h int
	switch {
	case n < 126:
		dst[1] = byte(n)
		h = 2
	case n <= 0xFFFF:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:], uint16(n))
		h = 4
	default:
		dst[1] = 127
		binary.BigEndian.PutUint64(dst[2:], uint64(n))
		h = 10
	}
	copy(dst[h:], payload)
}

// writeFrameLocked hands one frame to nbio. Called with c.mu held.
func (c *Conn) writeFrameLocked(op byte, payload []byte, size int) error {
	alloc := c.srv.engine.BodyAllocator
	pbuf := alloc.Malloc(size)
	putFrame(*pbuf, op, payload)
	c.submitted.Add(int64(size))
	_, err := c.nb.Write(*pbuf)
	alloc.Free(pbuf)
	return err
}

// writeBounded writes a data or ping/pong frame, enforcing MaxPendingBytes.
func (c *Conn) writeBounded(op byte, payload []byte) error {
	size := frameLen(len(payload))
	limit := int64(c.srv.cfg.MaxPendingBytes)
	if int64(size) > limit {
		return ErrMessageTooLarge
	}
	c.mu.Lock()
	if c.state.Load() != stateOpen {
		c.mu.Unlock()
		return ErrClosed
	}
	pending := c.submitted.Load() - c.written.Load()
	if pending+int64(size) > limit {
		c.mu.Unlock()
		c.closeLocal(CloseSlowConsumer, "slow consumer")
		return ErrSlowConsumer
	}
	if p := pending + int64(size); p > c.highWater.Load() {
		c.highWater.Store(p)
	}
	err := c.writeFrameLocked(op, payload, size)
	c.mu.Unlock()
	if err != nil {
		return ErrClosed
	}
	return nil
}

// closeLocal starts a server-initiated close: close frame, then graceful
// shutdown (see Close).
func (c *Conn) closeLocal(code int, reason string) {
	c.mu.Lock()
	if c.state.Load() != stateOpen {
		c.mu.Unlock()
		return
	}
	c.state.Store(stateClosing)
	c.closeInfo = &CloseError{Code: code, Reason: reason}
	c.sendCloseLocked(code, reason)
	c.mu.Unlock()
	c.lingerClose()
}

// sendCloseLocked writes a close frame (not subject to MaxPendingBytes) and
// arms the close timer. Called with c.mu held.
func (c *Conn) sendCloseLocked(code int, reason string) {
	var payload []byte
	if code != 0 {
		payload = make([]byte, 2+len(reason))
		binary.BigEndian.PutUint16(payload, uint16(code))
		copy(payload[2:], reason)
	}
	c.flushWait.Store(true)
	_ = c.writeFrameLocked(opClose, payload, frameLen(len(payload)))
	c.armTimerLocked()
}

func (c *Conn) armTimerLocked() {
	if c.timer == nil && c.state.Load() != stateClosed {
		nb := c.nb
		c.timer = time.AfterFunc(c.srv.cfg.CloseTimeout, func() {
			_ = nb.CloseWithError(errCloseTimeout)
		})
	}
}

// lingerClose shuts the write side down if the close frame has already been
// handed to the kernel (otherwise onWrittenSize does it when it is). The peer
// then reads everything we sent, answers, and closes; we keep reading until
// it does, so our close never turns into a reset that could destroy the
// close frame before the peer reads it.
func (c *Conn) lingerClose() {
	if !c.flushWait.Load() || c.written.Load() < c.submitted.Load() {
		return
	}
	c.nb.Lock()
	closed, _ := c.nb.IsClosed()
	if !closed && c.shutWr.CompareAndSwap(false, true) {
		shutdownWrite(c.nb.Hash())
	}
	c.nb.Unlock()
}

// onParseError handles an error from nbio's frame parser (on a poller
// goroutine). After it, input is discarded until the peer closes.
func (c *Conn) onParseError(err error) {
	if errors.Is(err, net.ErrClosed) {
		return
	}
	c.discard.Store(true)
	code, reason, sent := CloseProtocolError, "protocol error", false
	switch {
	case errors.Is(err, websocket.ErrMessageTooLarge), errors.Is(err, websocket.ErrControlMessageTooBig):
		// nbio's parser has already written close 1009 with err's text.
		code, reason, sent = CloseMessageTooBig, err.Error(), true
	case errors.Is(err, nbhttp.ErrTooLong):
		code, reason = CloseMessageTooBig, "message too big"
	case errors.Is(err, errTooManyQueued):
		code, reason = CloseTryAgainLater, "too many messages waiting to be handled; slow down"
	}
	c.mu.Lock()
	if !c.ready.Load() {
		c.mu.Unlock()
		_ = c.nb.CloseWithError(err)
		return
	}
	if c.state.Load() != stateOpen {
		c.mu.Unlock()
		return
	}
	c.state.Store(stateClosing)
	c.closeInfo = &CloseError{Code: code, Reason: reason}
	if sent {
		c.submitted.Add(int64(frameLen(2 + len(reason))))
		c.flushWait.Store(true)
		c.armTimerLocked()
	} else {
		c.sendCloseLocked(code, reason)
	}
	c.mu.Unlock()
	c.lingerClose()
}

// dispatch runs on the connection's serialised nbio job queue. Until
// Upgrade has returned, events are queued; the first event after that (or
// the drain job scheduled by markReady) delivers them in order first.
func (c *Conn) dispatch(ev event) {
	if !c.ready.Load() || c.hasEarly.Load() {
		c.mu.Lock()
		if !c.ready.Load() {
			if len(c.early) >= maxEarlyEvents {
				c.mu.Unlock()
				_ = c.nb.Close()
				return
			}
			if ev.data != nil {
				ev.data = append([]byte(nil), ev.data...)
			}
			c.early = append(c.early, ev)
			c.hasEarly.Store(true)
			c.mu.Unlock()
			return
		}
		early := c.early
		c.early = nil
		c.hasEarly.Store(false)
		c.mu.Unlock()
		for _, e := range early {
			c.handle(e)
		}
	}
	c.handle(ev)
}

// markReady is called when Upgrade is about to return c.
func (c *Conn) markReady() {
	c.mu.Lock()
	c.ready.Store(true)
	drain := len(c.early) > 0
	c.mu.Unlock()
	if drain {
		c.nb.MustExecute(func() { c.dispatch(event{kind: evNone}) })
	}
}

// abandon is called when Upgrade fails after the connection was bound: no
// callback is ever delivered for it.
func (c *Conn) abandon() {
	c.abandoned.Store(true)
	c.closeDone.Store(true)
	c.mu.Lock()
	c.early = nil
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
}

func (c *Conn) handle(ev event) {
	if c.abandoned.Load() {
		return
	}
	switch ev.kind {
	case evText:
		if !utf8.Valid(ev.data) {
			c.Close(CloseInvalidPayload, "text message is not valid UTF-8")
			return
		}
		if c.state.Load() == stateOpen {
			c.callMessage(ev.data)
		}
	case evBinary:
		c.Close(CloseUnsupportedData, "binary messages are not supported")
	case evPing:
		if c.state.Load() == stateOpen {
			// Errors close the connection as needed (slow consumer).
			_ = c.writeBounded(opPong, []byte(ev.text))
		}
	case evPong:
		if c.state.Load() == stateOpen {
			c.callPong()
		}
	case evPeerClose:
		c.onPeerClose(ev.code, ev.text)
	case evClosed:
		c.finish(ev.err)
	}
}

// onPeerClose answers a close frame from the peer. nbio closes the socket
// right after this returns.
func (c *Conn) onPeerClose(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() != stateOpen {
		return // we sent ours first: this is the answer
	}
	c.state.Store(stateClosing)
	c.closeInfo = &CloseError{Code: code, Reason: reason, Remote: true}
	if code == 1005 { // no status: answer with an empty close frame
		code = 0
	}
	c.sendCloseLocked(code, "")
}

// finish handles the end of the transport.
func (c *Conn) finish(err error) {
	c.mu.Lock()
	c.state.Store(stateClosed)
	if c.timer != nil {
		c.timer.Stop()
	}
	var cerr error = c.closeInfo
	if c.closeInfo == nil {
		cerr = transportError(err)
	}
	c.mu.Unlock()
	s := c.srv
	if !s.enter() {
		return // engine stopped: Shutdown delivers OnClose
	}
	c.callClose(cerr)
	s.leave()
	s.untrack(c)
}

// finishAfterStop delivers OnClose for a connection whose close job nbio
// dropped when the engine stopped.
func (c *Conn) finishAfterStop() {
	c.mu.Lock()
	c.state.Store(stateClosed)
	if c.timer != nil {
		c.timer.Stop()
	}
	var cerr error = c.closeInfo
	if c.closeInfo == nil {
		cerr = ErrServerClosed
	}
	c.early = nil
	c.mu.Unlock()
	c.callClose(cerr)
}

func transportError(err error) error {
	var ce *websocket.CloseError
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return ErrConnectionLost
	case errors.As(err, &ce):
		return &CloseError{Code: ce.Code, Reason: ce.Reason, Remote: true}
	}
	return err
}

func (c *Conn) callMessage(data []byte) {
	s := c.srv
	if !s.enter() {
		return
	}
	defer s.leave()
	defer c.recoverHandler("OnMessage")
	c.h.OnMessage(c, data)
}

func (c *Conn) callPong() {
	s := c.srv
	if !s.enter() {
		return
	}
	defer s.leave()
	defer c.recoverHandler("OnPong")
	c.h.OnPong(c)
}

func (c *Conn) callClose(err error) {
	if !c.closeDone.CompareAndSwap(false, true) {
		return
	}
	defer c.recoverHandler("OnClose")
	c.h.OnClose(c, err)
}

func (c *Conn) recoverHandler(method string) {
	if p := recover(); p != nil {
		c.srv.log.Error("wsconn: handler panic",
			"method", method,
			"remote", c.RemoteAddr(),
			"panic", p,
			"stack", string(debug.Stack()))
		c.Close(CloseInternalError, "internal server error")
	}
}
