package main_test

import (
	"context"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/internal/redistest"
	"github.com/presenced/presenced/internal/webhooktest"
	"github.com/presenced/presenced/webhook"
)

// TestKilledRedisNodesWebhooksAreTakenOver runs three nodes on a 3-master
// Redis Cluster, makes changes on one of them while the receiver fails,
// kills that node with SIGKILL and lets the receiver recover: the other
// nodes deliver every event of the acknowledged changes, each accepted
// once, in order per user.
func TestKilledRedisNodesWebhooksAreTakenOver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	redistest.Require(t)
	bin := build(t)
	cluster := redistest.StartCluster(t, 3, 0)
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	rcv := webhooktest.NewReceiver(t, secret)
	rcv.Fail(http.StatusInternalServerError)
	flags := []string{"--redis-url", cluster.URL(), "--webhook-url", rcv.URL(), "--webhook-secret", secret,
		"--webhook-events", "user.online,user.status", "--webhook-batch-wait", "1ms"}
	a := run(t, bin, t.TempDir(), flags...)
	run(t, bin, t.TempDir(), flags...)
	run(t, bin, t.TempDir(), flags...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const users, changes = 10, 3
	for u := range users {
		c, err := client.Dial(ctx, a.base, client.Options{UserID: "u" + strconv.Itoa(u), Device: "web"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Drop)
		if err := c.SetOnline(ctx, "web"); err != nil {
			t.Fatal(err)
		}
		for i := range changes {
			if err := c.SetStatus(ctx, map[string]any{"custom_status": "note " + strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	poll.Until(t, "a failed delivery", func() bool { return len(rcv.Failed()) > 0 })
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	killed := time.Now()
	rcv.Fail(0)
	want := users * (1 + changes)
	poll.Until(t, "every event of the killed node's changes", func() bool { return len(rcv.Events()) >= want })
	took := time.Since(killed)

	last := map[string]uint64{}
	for _, ev := range rcv.Events() {
		if ev.Presence == nil || ev.Presence.V <= last[ev.UserID] {
			t.Errorf("%s out of order (version after %d)", ev, last[ev.UserID])
			continue
		}
		last[ev.UserID] = ev.Presence.V
	}
	if n := len(rcv.Events()); n != want {
		t.Errorf("%d distinct events, want %d", n, want)
	}
	accepted := 0
	for _, d := range rcv.Accepted() {
		accepted += len(d.Msg.Events)
	}
	if accepted != want {
		t.Errorf("%d events accepted for %d distinct: some were delivered by two nodes", accepted, want)
	}
	t.Logf("the killed node's %d events all delivered %v after the kill", want, took.Round(time.Millisecond))
}
