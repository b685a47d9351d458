package wsconn_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/wsconn"
)

// rawDial opens a WebSocket on a plain TCP socket, so that the test can
// write frames no conforming client library would.
func rawDial(t *testing.T, e *env) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", e.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /raw HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return nc, br
}

// clientFrame encodes a final text frame; masked as a client must, or not.
// The key has its high bits set and clear in turn, so that the masked
// bytes of an ASCII payload look like frame headers of both kinds.
func clientFrame(payload string, masked bool) []byte {
	b := []byte{0x81, byte(len(payload))}
	if !masked {
		return append(b, payload...)
	}
	b[1] |= 0x80
	key := []byte{0x81, 0x02, 0xFE, 0x04}
	b = append(b, key...)
	for i := range len(payload) {
		b = append(b, payload[i]^key[i%4])
	}
	return b
}

// readServerClose reads server frames until a close frame and returns its
// code; text frames before it are returned too.
func readServerClose(t *testing.T, br *bufio.Reader) (int, []string) {
	t.Helper()
	var texts []string
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("reading a frame: %v (texts so far %q)", err, texts)
		}
		if h[1]&0x80 != 0 || h[1]&0x7F > 125 {
			t.Fatalf("unexpected server frame header % x", h)
		}
		p := make([]byte, h[1]&0x7F)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		switch h[0] & 0x0F {
		case 0x1:
			texts = append(texts, string(p))
		case 0x8:
			if len(p) < 2 {
				return 1005, texts
			}
			return int(binary.BigEndian.Uint16(p)), texts
		}
	}
}

func TestUnmaskedClientFrameCloses1002(t *testing.T) {
	e := newEnv(t, wsconn.Config{}, nil)
	nc, br := rawDial(t, e)
	u := <-e.ch
	// A masked frame, then an unmasked one in the same write: the first
	// is delivered, the second closes the connection.
	msg := append(clientFrame("first", true), clientFrame("second", false)...)
	if _, err := nc.Write(msg); err != nil {
		t.Fatal(err)
	}
	if code, _ := readServerClose(t, br); code != wsconn.CloseProtocolError {
		t.Fatalf("close code %d, want 1002", code)
	}
	_ = nc.Close()
	ce, err := u.h.waitClosed(t)
	if ce == nil || ce.Code != wsconn.CloseProtocolError || ce.Remote {
		t.Fatalf("OnClose: %v", err)
	}
	if got := u.h.messages(); len(got) != 1 || string(got[0]) != "first" {
		t.Fatalf("delivered %q, want only the masked frame", got)
	}
}

// The check follows frame boundaries across reads: a frame whose header
// and payload arrive a byte at a time is judged by its own mask bit, never
// by a payload byte.
func TestMaskCheckAcrossReads(t *testing.T) {
	e := newEnv(t, wsconn.Config{}, nil)
	nc, br := rawDial(t, e)
	u := <-e.ch
	// The payload's bytes, once masked, have the mask bit clear and set in
	// turn; a scanner that lost its place would take one for a header.
	payload := "hello, world"
	for _, b := range clientFrame(payload, true) {
		if _, err := nc.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // let each byte be its own read
	}
	poll.Until(t, "the frame", func() bool { return len(u.h.messages()) == 1 })
	if _, err := nc.Write(clientFrame("x", false)); err != nil {
		t.Fatal(err)
	}
	if code, _ := readServerClose(t, br); code != wsconn.CloseProtocolError {
		t.Fatalf("close code %d, want 1002", code)
	}
	_ = nc.Close()
}
