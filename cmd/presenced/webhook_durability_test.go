package main_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/internal/webhooktest"
	"github.com/presenced/presenced/webhook"
)

// TestKilledServerDeliversItsWebhooksAfterRestart makes changes while the
// receiver fails, kills the process with SIGKILL right after the last
// change was acknowledged, and restarts it on the same data dir with the
// receiver answering: every event of an acknowledged change arrives, in
// order per user and per room, with the ids it was first sent with, and
// none of a refused change.
func TestKilledServerDeliversItsWebhooksAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := build(t)
	dir := t.TempDir()
	rcv, flags := receiver(t)
	rcv.Fail(http.StatusInternalServerError)
	n := run(t, bin, dir, flags...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	online := func(user string) *client.Conn {
		c, err := client.Dial(ctx, n.base, client.Options{UserID: user, Device: "web"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Drop)
		if err := c.SetOnline(ctx, "web"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice := online("alice")
	if _, err := alice.JoinRoom(ctx, "doc", nil); err != nil {
		t.Fatal(err)
	}
	bob := online("bob")
	if err := bob.SetStatus(ctx, map[string]any{"status": "busy"}); err != nil {
		t.Fatal(err)
	}
	// Refused changes: nothing is written, so nothing is sent.
	if err := bob.SetStatus(ctx, map[string]any{"status": "asleep"}); err == nil {
		t.Fatal("an unknown status was accepted")
	}
	if code, body := n.call(t, "PUT", "/v1/presence/bob/status", map[string]any{"status": "online", "custom_status": strings.Repeat("x", 100000)}); code/100 == 2 {
		t.Fatalf("an oversized custom status was accepted: %d %s", code, body)
	}
	// Wait until the node tried to deliver, so that ids were handed out.
	poll.Until(t, "a failed delivery", func() bool { return len(rcv.Failed()) > 0 })
	// carol changes her custom status in a loop until the kill: each
	// acknowledged change must be delivered, whenever the kill falls.
	carol := online("carol")
	acked := make(chan int, 100000)
	go func() {
		defer close(acked)
		for i := 0; ; i++ {
			if carol.SetStatus(ctx, map[string]any{"custom_status": "note " + strconv.Itoa(i)}) != nil {
				return
			}
			acked <- i
		}
	}()
	for range 30 {
		<-acked
	}
	// The last change is acknowledged and the process killed at once:
	// its event has most likely not been tried yet.
	if err := alice.SetStatus(ctx, map[string]any{"status": "away"}); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()
	carolAcked := 30
	for range acked {
		carolAcked++
	}
	firstIDs := map[string]string{}
	for _, d := range rcv.Failed() {
		for _, ev := range d.Msg.Events {
			firstIDs[key(ev)] = ev.ID
		}
	}

	rcv.Fail(0)
	run(t, bin, dir, flags...)
	want := map[string][]string{ // per user and per room, in order
		"alice": {"user.online alice online", "user.status alice away"},
		"bob":   {"user.online bob online", "user.status bob busy"},
		"@doc":  {"room.occupied @doc", "room.member_joined alice @doc"},
	}
	var carolVs []uint64
	got := func() map[string][]string {
		out := map[string][]string{}
		carolVs = carolVs[:0]
		for _, ev := range rcv.Events() {
			switch webhook.Type(ev.Type) {
			case webhook.UserOffline, webhook.RoomMemberLeft, webhook.RoomVacated:
				continue // the restart's sessions end after their grace, and leave their rooms
			}
			if ev.UserID == "carol" {
				if ev.Type == string(webhook.UserStatus) {
					carolVs = append(carolVs, ev.Presence.V)
				}
				continue
			}
			g := ev.UserID
			if ev.Room != "" {
				g = "@" + ev.Room
			}
			out[g] = append(out[g], key(ev))
		}
		return out
	}
	poll.Until(t, "every event of an acknowledged change", func() bool {
		g := got()
		for k, w := range want {
			if len(g[k]) < len(w) {
				return false
			}
		}
		return len(carolVs) >= carolAcked
	})
	for k, w := range want {
		if g := got()[k]; !slices.Equal(g, w) {
			t.Errorf("events of %s: %q, want %q", k, g, w)
		}
	}
	// Every acknowledged change, and perhaps the one in flight at the kill
	// (written, its reply lost), each once, in order.
	_ = got()
	if len(carolVs) > carolAcked+1 || !slices.IsSorted(carolVs) || len(slices.Compact(slices.Clone(carolVs))) != len(carolVs) {
		t.Errorf("carol: %d status events with versions %v for %d acknowledged changes", len(carolVs), carolVs, carolAcked)
	}
	t.Logf("carol: %d acknowledged changes before the kill, %d delivered", carolAcked, len(carolVs))
	if len(firstIDs) == 0 {
		t.Fatal("no event was tried before the kill")
	}
	for _, ev := range rcv.Events() {
		if id, ok := firstIDs[key(ev)]; ok && id != ev.ID {
			t.Errorf("%s: id %s after the restart, %s before", key(ev), ev.ID, id)
		}
		delete(firstIDs, key(ev))
	}
	for k := range firstIDs {
		t.Errorf("%s was tried before the kill and never delivered after it", k)
	}
}

// receiver starts a webhook receiver and returns it with the flags that
// send it every event type, each at once.
func receiver(t *testing.T) (*webhooktest.Receiver, []string) {
	t.Helper()
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	rcv := webhooktest.NewReceiver(t, secret)
	return rcv, []string{"--webhook-url", rcv.URL(), "--webhook-secret", secret,
		"--webhook-events", webhook.TypeList(webhook.Types), "--webhook-batch-wait", "1ms"}
}

// key names an event by what it says, its presence's status included.
func key(ev webhooktest.Event) string {
	if ev.Presence != nil {
		return ev.String() + " " + ev.Presence.Status
	}
	return ev.String()
}
