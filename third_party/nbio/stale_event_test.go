//go:build linux

package nbio

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestStaleEventSpareNewConnOnSameFd reproduces an event fetched by
// epoll_wait for a connection that another goroutine closes before the
// poller dispatches it, while a new connection takes the same fd number.
// The event (the first connection's peer hung up) must not close the new
// connection.
func TestStaleEventSpareNewConnOnSameFd(t *testing.T) {
	g := NewEngine(Config{NPoller: 1})
	gate := make(chan struct{})
	entered := make(chan struct{}, 4)
	closed := make(chan *Conn, 4)
	data := make(chan *Conn, 4)
	var gateConn *Conn
	g.OnData(func(c *Conn, b []byte) {
		if c == gateConn {
			entered <- struct{}{}
			<-gate
			return
		}
		data <- c
	})
	g.OnClose(func(c *Conn, err error) {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			t.Logf("closed fd %d: %v", c.Hash(), err)
		}
		closed <- c
	})
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer g.Stop()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() (server net.Conn, peer net.Conn) {
		peer, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err = ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return server, peer
	}
	dS, dPeer := pair()
	defer dPeer.Close()
	aS, aPeer := pair()
	bS, bPeer := pair()
	defer bPeer.Close()

	d, err := g.AddConn(dS)
	if err != nil {
		t.Fatal(err)
	}
	gateConn = d
	a, err := g.AddConn(aS)
	if err != nil {
		t.Fatal(err)
	}
	fdA := a.Hash()

	wait := func(ch chan struct{}) {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("poller did not get there")
		}
	}
	// Hold the poller inside d's handler, make d readable again and hang
	// up a's peer: the next epoll_wait returns d's event, then a's.
	dPeer.Write([]byte("1"))
	wait(entered)
	dPeer.Write([]byte("2"))
	aPeer.Close()
	gate <- struct{}{}
	wait(entered)
	// The poller holds a's event. Close a here, off the poller, and give
	// its fd number to b.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if c := <-closed; c != a {
		t.Fatalf("closed fd %d, want a", c.Hash())
	}
	b, err := g.AddConn(bS)
	if err != nil {
		t.Fatal(err)
	}
	if b.Hash() != fdA {
		t.Fatalf("b got fd %d, not a's %d: the setup did not hold", b.Hash(), fdA)
	}
	gate <- struct{}{}
	// Once d is handled again, the poller is past the rest of that batch.
	dPeer.Write([]byte("3"))
	wait(entered)
	gate <- struct{}{}

	bPeer.Write([]byte("x"))
	select {
	case c := <-data:
		if c != b {
			t.Fatalf("data on fd %d, want b", c.Hash())
		}
	case c := <-closed:
		t.Fatalf("a stale event of the fd's previous connection closed fd %d (b is %v)", c.Hash(), c == b)
	case <-time.After(5 * time.Second):
		t.Fatal("b got nothing")
	}
}
