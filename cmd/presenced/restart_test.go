package main_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// TestRestartKeepsSessionsInTheirGrace stops the server (SIGTERM) or kills
// it (SIGKILL) with two users online and restarts it on the same data
// dir. A watcher reconnecting after the restart finds both online at the
// versions it had; bob, whose device reconnects within the grace, is never
// seen leaving; carol, whose device does not, goes offline when the grace
// ends, last seen when her connection closed or, after the kill, within
// about a second (the lease's renewal) of it.
func TestRestartKeepsSessionsInTheirGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := build(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) { testRestartInGrace(t, bin, sig) })
	}
}

func testRestartInGrace(t *testing.T, bin string, sig syscall.Signal) {
	const grace = 3 * time.Second
	flags := []string{"--offline-grace", grace.String()}
	dir := t.TempDir()
	n := run(t, bin, dir, flags...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func(base, user string) *client.Conn {
		t.Helper()
		c, err := client.Dial(ctx, base, client.Options{UserID: user, Device: "web"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Drop)
		return c
	}
	for _, u := range []string{"bob", "carol"} {
		if err := dial(n.base, u).SetOnline(ctx, "web"); err != nil {
			t.Fatal(err)
		}
	}
	watcher := dial(n.base, "alice")
	before, err := watcher.Subscribe(ctx, "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	// Let the lease be renewed after the last write, as it is in a long run.
	time.Sleep(1500 * time.Millisecond)
	stoppedAt := time.Now()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()

	r := run(t, bin, dir, flags...)
	watcher = dial(r.base, "alice")
	after, err := watcher.Subscribe(ctx, "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob", "carol"} {
		if b, a := before[u], after[u]; a.Status != presence.StatusOnline || a.V != b.V {
			t.Fatalf("%s after the restart = %+v, before it %+v: the restart was seen", u, a, b)
		}
	}
	if err := dial(r.base, "bob").SetOnline(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	// The next update the watcher gets is carol's offline, at the grace's
	// end; bob's return changed nothing it could see.
	for {
		m, err := watcher.Next(ctx)
		if err != nil {
			t.Fatalf("no offline for carol: %v", err)
		}
		if m.Type != protocol.TypePresenceUpdate {
			continue
		}
		p, err := m.PresenceValue()
		if err != nil {
			t.Fatal(err)
		}
		if p.UserID != "carol" || p.Status != presence.StatusOffline {
			t.Fatalf("update after the restart: %s", m.Raw)
		}
		early := 100 * time.Millisecond
		if sig == syscall.SIGKILL {
			early = 1500 * time.Millisecond // the lease is renewed every second
		}
		if p.LastSeen.Before(stoppedAt.Add(-early)) || p.LastSeen.After(stoppedAt.Add(time.Second)) {
			t.Fatalf("carol last seen %v, stopped at %v", p.LastSeen, stoppedAt)
		}
		break
	}
	got, err := watcher.GetPresence(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if b := got["bob"]; b.Status != presence.StatusOnline || b.V != before["bob"].V {
		t.Fatalf("bob after the grace = %+v, before the restart %+v", b, before["bob"])
	}
}
