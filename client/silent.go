package client

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// DialSilent opens a presence session and then goes silent: it never reads,
// never answers a ping and never sends again, but keeps the socket open —
// what the server sees of a client whose process or network froze. The
// caller closes the returned conn when done.
func DialSilent(ctx context.Context, base string, opts Options) (net.Conn, error) {
	return DialSilentAfter(ctx, base, opts, `{"type":"set_online"}`)
}

// DialSilentAfter is DialSilent sending the given messages (each under 126
// bytes) before going silent.
func DialSilentAfter(ctx context.Context, base string, opts Options, messages ...string) (net.Conn, error) {
	raw, err := URL(base, opts)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", u.RequestURI(), u.Host, base64.StdEncoding.EncodeToString(key))
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, &HandshakeError{Status: resp.StatusCode, Err: fmt.Errorf("status %s", resp.Status)}
	}
	for _, m := range messages {
		if _, err := conn.Write(maskedText([]byte(m))); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// maskedText frames payload (under 126 bytes) as a masked text frame.
func maskedText(payload []byte) []byte {
	mask := make([]byte, 4)
	_, _ = rand.Read(mask)
	f := append([]byte{0x81, 0x80 | byte(len(payload))}, mask...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	return f
}
