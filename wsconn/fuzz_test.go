package wsconn_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/wsconn"
)

// fuzzHandler counts what one connection delivered.
type fuzzHandler struct {
	tooBig atomic.Int64
	closes atomic.Int64
	limit  int
}

func (h *fuzzHandler) OnMessage(_ *wsconn.Conn, data []byte) {
	if len(data) > h.limit {
		h.tooBig.Add(1)
	}
}
func (h *fuzzHandler) OnPong(*wsconn.Conn)         {}
func (h *fuzzHandler) OnClose(*wsconn.Conn, error) { h.closes.Add(1) }

// FuzzFrames writes arbitrary bytes as the frames of a real connection,
// after a real handshake. The server must never deliver a message over the
// limit, and must end the connection (one OnClose) once the client has
// closed its side, whatever it sent.
func FuzzFrames(f *testing.F) {
	mask := []byte{1, 2, 3, 4}
	masked := func(op byte, payload string) []byte {
		b := []byte{0x80 | op, 0x80 | byte(len(payload))}
		b = append(b, mask...)
		for i := range len(payload) {
			b = append(b, payload[i]^mask[i%4])
		}
		return b
	}
	f.Add(masked(0x1, `{"type":"ping"}`))
	f.Add(masked(0x9, "hi"))
	f.Add(masked(0x8, "\x03\xe8bye"))
	f.Add(append(masked(0x1, "hello")[:6:6], masked(0x0, "x")...))
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}) // unmasked
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	f.Add(masked(0x1, "\xff\xfe"))
	f.Add(masked(0x2, "bin"))

	const limit = 1024
	srv, err := wsconn.NewServer(wsconn.Config{MaxMessageBytes: limit, CloseTimeout: 200 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	handlers := make(chan *fuzzHandler, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := &fuzzHandler{limit: limit}
		if _, err := srv.Upgrade(w, r, h, nil); err != nil {
			h = nil
		}
		handlers <- h
	}))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	}()
	addr := hs.Listener.Addr().String()

	f.Fuzz(func(t *testing.T, frames []byte) {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		handshake := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		if _, err := nc.Write([]byte(handshake)); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(nc)
		status, err := rd.ReadString('\n')
		if err != nil || !strings.Contains(status, " 101 ") {
			t.Fatalf("handshake: %q %v", status, err)
		}
		h := <-handlers
		if h == nil {
			t.Fatal("upgrade failed")
		}
		_, _ = nc.Write(frames)
		_ = nc.(*net.TCPConn).CloseWrite()
		// Read whatever the server answers until it closes: within the
		// close timeout once it has seen our side closed.
		readStart := time.Now()
		buf := make([]byte, 4096)
		var rerr error
		for rerr == nil {
			_, rerr = rd.Read(buf)
		}
		if d := time.Since(readStart); d > 5*time.Second {
			t.Fatalf("the server kept the socket open %s after the client closed its side (%v), after %q", d, rerr, frames)
		}
		deadline := time.Now().Add(10 * time.Second)
		for h.closes.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no OnClose after %q", frames)
			}
			time.Sleep(time.Millisecond)
		}
		if n := h.closes.Load(); n != 1 {
			t.Fatalf("%d OnClose calls after %q", n, frames)
		}
		if h.tooBig.Load() != 0 {
			t.Fatalf("a message over %d bytes was delivered for %q", limit, frames)
		}
	})
}
