package wsconn_test

import (
	"testing"

	"github.com/coder/websocket"

	"github.com/presenced/presenced/wsconn"
)

// A text message that is not UTF-8 closes the connection with 1007, and
// the close frame reaches a client that keeps sending (the fuzz target of
// the client messages found it lost to a reset, with 1002, before).
func TestInvalidUTF8Closes1007(t *testing.T) {
	e := newEnv(t, wsconn.Config{}, nil)
	cc, up := e.dial("/utf8")
	ctx := ctx10s(t)
	if err := cc.Write(ctx, websocket.MessageText, []byte("ab\xea")); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		_ = cc.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`))
	}
	if code, _ := readClose(t, cc); code != wsconn.CloseInvalidPayload {
		t.Fatalf("close code %d, want 1007", code)
	}
	up.h.waitClosed(t)
	if n := len(up.h.messages()); n != 0 {
		t.Fatalf("%d messages delivered after the invalid one", n)
	}
}
