package multinode_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// TestStalledNodeDoesNotResurrect stops a node (SIGSTOP) for longer than
// its lease: another node ends its user's session, and watchers see the
// user offline. When the node resumes, it finds its lease taken over: it
// does not write the session back, it closes the client (to reconnect),
// and the client's new session on it stays, under the node's new name.
func TestStalledNodeDoesNotResurrect(t *testing.T) {
	a, b, _ := threeNodes(t)
	w, _ := watch(t, a, "watcher", "stuck")
	stuck := online(t, b, "stuck", "web")
	expectStatus(t, w, "stuck", presence.StatusOnline, 5*time.Second)

	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	off := expectStatus(t, w, "stuck", presence.StatusOffline, ttl+3*time.Second)
	if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The node ends the connection: as expired (it was silent for the
	// TTL while the node stood still) or to reconnect (its lease lapsed).
	if code := closed(t, stuck, 5*time.Second); code != protocol.CloseServiceRestart && code != protocol.CloseExpired {
		t.Fatalf("the resumed node closed the client with %d", code)
	}
	// Nothing came back: the stored version is still the offline one, and
	// a change of stuck's own is the watcher's next update.
	unchangedSince(t, a, w, "stuck", off.V)

	// The client reconnects to the same node; its session stays beyond a
	// lease, so the node renews under its new name.
	online(t, b, "stuck", "web")
	on := expectStatus(t, w, "stuck", presence.StatusOnline, 5*time.Second)
	time.Sleep(ttl + time.Second) // past a lease and a TTL, in real time: the nodes run on the system clock
	unchangedSince(t, a, w, "stuck", on.V)
}
