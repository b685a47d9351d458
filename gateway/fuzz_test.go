package gateway_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// FuzzClientMessage sends arbitrary text frames to a real node over a real
// WebSocket, each followed by a ping request. The node must answer the ping
// (whatever it made of the frame) or close the connection with a code the
// protocol gives for bad input; a closed connection is dialled again.
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"set_online","device":"web"}`,
		`{"type":"heartbeat"}`,
		`{"type":"set_status","status":"busy","custom_status":"x","expires_at":1798000000,"id":1}`,
		`{"type":"idle_state","idle":true}`,
		`{"type":"subscribe","user_ids":["bob","carol"],"id":"s"}`,
		`{"type":"get_presence","user_ids":["bob"]}`,
		`{"type":"set_privacy","visibility":"contacts","invisible":true}`,
		`{"type":"block","user_id":"bob"}`,
		`{"type":"join_room","room":"doc:1","meta":{"a":1}}`,
		`{"type":"cursor","room":"doc:1","cursor":{"x":1}}`,
		`{"type":"room_members","room":"doc:1","limit":5}`,
		`{"type":"refresh_token","token":"a.b.c"}`,
		`{"type":"cursor","type":"get_presence","user_ids":["a"]}`,
		`{"type":"set_offline"}`,
		`{"type":`,
		`[]`,
		"\xff",
	} {
		f.Add([]byte(s))
	}
	dir, err := os.MkdirTemp("", "fuzz-gateway-")
	if err != nil {
		f.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := server.New(server.Config{
		Addr: "127.0.0.1:0", Dev: true, DataDir: dir,
		RatePerSecond: 1e9, RateBurst: 1e9,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	srv.Start()
	defer func() { _ = srv.Shutdown(context.Background()) }()
	base := "http://" + srv.Addr()
	var c *client.Conn
	dial := func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		c, err = client.Dial(ctx, base, client.Options{UserID: "fuzz", Device: "fuzz", OnMessage: func(client.Message) {}})
		if err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		if c != nil {
			c.Drop()
		}
	}()
	var sent [][]byte // on this connection, for the failure message
	f.Fuzz(func(t *testing.T, frame []byte) {
		if c == nil {
			dial(t)
			sent = sent[:0]
		}
		sent = append(sent, frame)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.SendRaw(ctx, frame)
		_, err := c.Request(ctx, map[string]any{"type": protocol.TypePing})
		var perr *presence.Error
		if err == nil || errors.As(err, &perr) {
			return // answered, possibly with an error reply
		}
		closed := c
		c = nil // whatever happens, the next input starts afresh
		select {
		case <-closed.Done():
		case <-ctx.Done():
			closed.Drop()
			t.Fatalf("no reply and no close after %q: %v", sent, err)
		}
		switch code := closed.CloseStatus(); code {
		case 1007, 1009, protocol.CloseRateLimited:
			// Not UTF-8, too large, or refused too often.
		case -1:
			// Known defect, open: on a loaded machine the 1007 close of a
			// frame that is not UTF-8 sometimes reaches the client as a
			// bare FIN, without its close frame (corpus entries
			// 0d94ae1934d7ecbc, cfbd4c99a9ad42df, 73ba1bca18805067 hit
			// it while fuzzing; alone they pass). Any other silent close
			// is a failure.
			if utf8.Valid(frame) {
				t.Fatalf("closed without a close frame (%v; %v) after %q", err, closed.Err(), sent)
			}
		default:
			t.Fatalf("closed with %d (%v; %v) after %q", code, err, closed.Err(), sent)
		}
	})
}
