//go:build linux

package leanws

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Frame opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// MaxMessageBytes bounds a message read from the server. The largest
// presenced sends is a snapshot of 1,000 users (about 300 KB).
const MaxMessageBytes = 4 << 20

// Handler receives a connection's events on its Poller's goroutine, one at
// a time for all the Poller's connections: it must not block.
type Handler interface {
	// OnMessage receives one text message, valid only during the call.
	OnMessage(c *Conn, data []byte)
	// OnClose is called once, when the connection is gone: err is a
	// *CloseError if the server sent a close frame, ErrDropped after Drop,
	// or the transport error.
	OnClose(c *Conn, err error)
}

// ErrDropped is the OnClose error of a connection ended by Drop.
var ErrDropped = errors.New("leanws: dropped")

// HandshakeError is a refused upgrade.
type HandshakeError struct {
	Status int
	Body   string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("handshake refused: HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// CloseError is the close frame the server sent.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("closed by server: %d %s", e.Code, e.Reason) }

// Conn is one client connection. Writes are safe for concurrent use.
type Conn struct {
	p  *Poller
	fd int
	h  Handler

	wmu       sync.Mutex
	wbuf      []byte
	closed    atomic.Bool // the socket is closed or being closed
	drop      atomic.Bool
	closeSent atomic.Bool

	// Owned by the poller goroutine.
	in   []byte // bytes of an incomplete frame
	frag []byte // the fragments of an incomplete message
}

// Dial opens a WebSocket connection to rawURL (ws://host:port/path?query)
// and hands it to the poller. Messages that arrived with the handshake are
// delivered to h before Dial returns.
func (p *Poller) Dial(ctx context.Context, rawURL string, h Handler) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("leanws: unsupported scheme %q (ws only)", u.Scheme)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	early, err := handshake(nc, u)
	if err != nil {
		return nil, err
	}
	// Take the socket out of Go's netpoller: a duplicate descriptor shares
	// the (non-blocking) socket, and closing nc leaves it open.
	var fd int
	var derr error
	raw, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	if err := raw.Control(func(f uintptr) { fd, derr = syscall.Dup(int(f)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	syscall.CloseOnExec(fd)
	c := &Conn{p: p, fd: fd, h: h}
	if len(early) > 0 && !c.consume(early) {
		return nil, errors.New("leanws: connection closed during the handshake")
	}
	if err := p.add(c); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return c, nil
}

// handshake upgrades nc and returns the bytes that followed the response.
func handshake(nc net.Conn, u *url.URL) ([]byte, error) {
	var key [16]byte
	_, _ = crand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + k +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, &HandshakeError{Status: resp.StatusCode, Body: string(body)}
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(k) {
		return nil, errors.New("leanws: bad Sec-WebSocket-Accept")
	}
	early, _ := br.Peek(br.Buffered())
	return append([]byte(nil), early...), nil
}

func acceptKey(k string) string {
	h := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// WriteText sends b as one masked text frame.
func (c *Conn) WriteText(b []byte) error { return c.writeFrame(opText, b) }

func (c *Conn) writeFrame(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return net.ErrClosed
	}
	n := len(payload)
	buf := c.wbuf[:0]
	buf = append(buf, 0x80|op)
	switch {
	case n < 126:
		buf = append(buf, 0x80|byte(n))
	case n <= 0xFFFF:
		buf = append(buf, 0x80|126, byte(n>>8), byte(n))
	default:
		buf = append(buf, 0x80|127)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	buf = append(buf, mask[:]...)
	start := len(buf)
	buf = append(buf, payload...)
	for i := range payload {
		buf[start+i] ^= mask[i&3]
	}
	err := writeAll(c.fd, buf)
	if cap(buf) <= 4096 {
		c.wbuf = buf
	}
	return err
}

// writeAll writes b to a non-blocking socket. Client frames are small and
// the server reads promptly, so a full send buffer is rare: it is waited
// out briefly rather than queued.
func writeAll(fd int, b []byte) error {
	deadline := time.Now().Add(5 * time.Second)
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			if time.Now().After(deadline) {
				return errors.New("leanws: send buffer full for 5s")
			}
			time.Sleep(time.Millisecond)
		case err != nil:
			return err
		}
	}
	return nil
}

// Close starts a clean close: a close frame with code; the server answers
// and the connection ends (OnClose with the server's *CloseError). If the
// server does not answer within wait, the socket is dropped.
func (c *Conn) Close(code int, wait time.Duration) error {
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], uint16(code))
	c.closeSent.Store(true)
	err := c.writeFrame(opClose, p[:])
	time.AfterFunc(wait, func() { c.Drop() })
	return err
}

// Drop ends the connection without a close handshake, as a lost network
// or a killed process would. OnClose follows with ErrDropped.
func (c *Conn) Drop() {
	c.drop.Store(true)
	c.wmu.Lock()
	if !c.closed.Load() {
		// The poller sees the end of input and releases the descriptor.
		_ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	}
	c.wmu.Unlock()
}

// consume parses b (appended to any incomplete frame) and delivers what is
// complete. It reports false once the connection has ended.
func (c *Conn) consume(b []byte) bool {
	buffered := len(c.in) > 0
	if buffered {
		c.in = append(c.in, b...)
		b = c.in
	}
	for len(b) > 0 {
		n, ok := c.frame(b)
		if !ok {
			return false
		}
		if n == 0 {
			break
		}
		b = b[n:]
	}
	switch {
	case len(b) == 0:
		c.in = c.in[:0]
		if cap(c.in) > 64<<10 {
			c.in = nil
		}
	case buffered:
		c.in = c.in[:copy(c.in, b)]
	default:
		c.in = append(c.in[:0], b...)
	}
	return true
}

// frame handles the frame at the start of b and returns its length, or 0
// when b does not hold a whole frame yet.
func (c *Conn) frame(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, true
	}
	fin, op := b[0]&0x80 != 0, b[0]&0x0F
	if b[1]&0x80 != 0 {
		c.fail(errors.New("leanws: masked frame from server"))
		return 0, false
	}
	h, n := 2, uint64(b[1]&0x7F)
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, true
		}
		h, n = 4, uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return 0, true
		}
		h, n = 10, binary.BigEndian.Uint64(b[2:])
	}
	if n > MaxMessageBytes {
		c.fail(fmt.Errorf("leanws: frame over %d bytes", MaxMessageBytes))
		return 0, false
	}
	if uint64(len(b)-h) < n {
		return 0, true
	}
	payload := b[h : h+int(n)]
	size := h + int(n)
	switch op {
	case opPing:
		if err := c.writeFrame(opPong, payload); err != nil {
			c.fail(err)
			return 0, false
		}
	case opPong:
	case opClose:
		ce := &CloseError{Code: 1005}
		if len(payload) >= 2 {
			ce.Code, ce.Reason = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
		}
		if !c.closeSent.Swap(true) {
			_ = c.writeFrame(opClose, payload[:min(len(payload), 2)])
		}
		c.fail(ce)
		return 0, false
	case opText, opContinuation:
		if !fin || len(c.frag) > 0 {
			if len(c.frag)+len(payload) > MaxMessageBytes {
				c.fail(fmt.Errorf("leanws: message over %d bytes", MaxMessageBytes))
				return 0, false
			}
			c.frag = append(c.frag, payload...)
			if !fin {
				return size, true
			}
			payload, c.frag = c.frag, nil
		}
		c.h.OnMessage(c, payload)
	default:
		c.fail(fmt.Errorf("leanws: unexpected opcode %d", op))
		return 0, false
	}
	return size, true
}

// fail ends the connection (on the poller goroutine, or in Dial before the
// poller knows it) and reports err.
func (c *Conn) fail(err error) {
	c.wmu.Lock()
	already := c.closed.Swap(true)
	c.wmu.Unlock()
	if already {
		return
	}
	if c.drop.Load() {
		err = ErrDropped
	}
	c.p.remove(c)
	_ = syscall.Close(c.fd)
	c.in, c.frag = nil, nil
	c.h.OnClose(c, err)
}
