package multinode_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// threeNodes starts three presenced processes on the shared cluster.
func threeNodes(t *testing.T) (a, b, c *node) {
	url := sharedCluster(t).URL()
	return startNode(t, "A", url), startNode(t, "B", url), startNode(t, "C", url)
}

func TestSubscribeAndUpdatesAcrossNodes(t *testing.T) {
	a, b, c := threeNodes(t)
	w, snap := watch(t, a, "watcher", "alice", "bob")
	if snap["alice"].Status != presence.StatusOffline || snap["alice"].V != 0 {
		t.Fatalf("snapshot = %+v", snap)
	}
	alice := online(t, b, "alice", "web")
	p := expectStatus(t, w, "alice", presence.StatusOnline, 5*time.Second)
	bob := online(t, c, "bob", "mobile")
	expectStatus(t, w, "bob", presence.StatusOnline, 5*time.Second)

	for range 5 {
		if err := alice.Heartbeat(ctxFor(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// B has handled the heartbeats once it answers a later ping.
	if _, err := alice.Request(ctxFor(t, 5*time.Second), map[string]any{"type": protocol.TypePing}); err != nil {
		t.Fatal(err)
	}
	p = unchangedSince(t, a, w, "alice", p.V) // heartbeats change nothing visible
	if err := bob.SetStatus(ctxFor(t, 5*time.Second), map[string]any{"status": "away"}); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, w, "bob", presence.StatusAway, 5*time.Second)

	if err := alice.SetStatus(ctxFor(t, 5*time.Second), map[string]any{"status": "busy", "custom_status": "Back at 3"}); err != nil {
		t.Fatal(err)
	}
	q := expectStatus(t, w, "alice", presence.StatusBusy, 5*time.Second)
	if q.CustomStatus != "Back at 3" || q.V <= p.V {
		t.Fatalf("alice = %+v after v%d", q, p.V)
	}

	// HTTP reads on a third node see both.
	code, body := api(t, c, "GET", "/v1/presence/alice", nil)
	var got presence.Presence
	if err := json.Unmarshal(body, &got); code != http.StatusOK || err != nil || got.Status != presence.StatusBusy || got.V != q.V {
		t.Fatalf("GET on C = %d %s", code, body)
	}
	code, body = api(t, a, "POST", "/v1/presence/bulk", map[string]any{"user_ids": []string{"alice", "bob", "nobody"}})
	var bulk struct{ Presences map[string]presence.Presence }
	if err := json.Unmarshal(body, &bulk); code != http.StatusOK || err != nil ||
		bulk.Presences["alice"].Status != presence.StatusBusy || bulk.Presences["bob"].Status != presence.StatusAway ||
		bulk.Presences["nobody"].Status != presence.StatusOffline {
		t.Fatalf("bulk on A = %d %s", code, body)
	}
	// An integration sets a status through another node.
	if code, body := api(t, c, "PUT", "/v1/presence/alice/status", map[string]any{"activity": "in_meeting"}); code != http.StatusOK {
		t.Fatalf("PUT on C = %d %s", code, body)
	}
	if p := expectStatus(t, w, "alice", presence.StatusBusy, 5*time.Second); p.Activity != presence.ActivityInMeeting {
		t.Fatalf("alice = %+v", p)
	}
}

func TestGraceAcrossNodes(t *testing.T) {
	a, b, c := threeNodes(t)
	w, _ := watch(t, a, "watcher", "alice")
	alice := online(t, b, "alice", "web")
	seen := expectStatus(t, w, "alice", presence.StatusOnline, 5*time.Second)

	// The network drops; alice comes back on another node within the grace.
	alice.Drop()
	time.Sleep(grace / 2)
	again := online(t, c, "alice", "web")
	time.Sleep(grace + ttl) // long past the dropped session's grace and TTL
	unchangedSince(t, a, w, "alice", seen.V)

	// A clean close: offline after the grace, last seen at the close.
	closedAt := time.Now()
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	p := expectStatus(t, w, "alice", presence.StatusOffline, grace+2*time.Second)
	if after := time.Since(closedAt); after < grace-100*time.Millisecond {
		t.Fatalf("offline %s after the close, before the %s grace", after, grace)
	}
	if d := p.LastSeen.Sub(closedAt); d < -interval || d > time.Second {
		t.Fatalf("last_seen %v is %s from the close", p.LastSeen, d)
	}
}

func TestSilentClientExpiresAtTTLAcrossNodes(t *testing.T) {
	a, b, _ := threeNodes(t)
	w, _ := watch(t, a, "watcher", "alice")
	began := time.Now()
	silent, err := client.DialSilent(ctxFor(t, 5*time.Second), b.base, client.Options{UserID: "alice", Device: "web"})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	expectStatus(t, w, "alice", presence.StatusOnline, 5*time.Second)
	expectStatus(t, w, "alice", presence.StatusOffline, ttl+3*time.Second)
	if d := time.Since(began); d < ttl || d > ttl+time.Second {
		t.Fatalf("offline %s after the last sign of life; want within [TTL, TTL+1s] = [%s, %s]", d, ttl, ttl+time.Second)
	}
}

func TestKickAcrossNodes(t *testing.T) {
	a, b, c := threeNodes(t)
	w, _ := watch(t, a, "watcher", "alice")
	web := online(t, b, "alice", "web")
	expectStatus(t, w, "alice", presence.StatusOnline, 5*time.Second)
	mobile := online(t, c, "alice", "mobile")
	expectStatus(t, w, "alice", presence.StatusOnline, 5*time.Second)
	if code, body := api(t, a, "DELETE", "/v1/presence/alice/sessions", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", code, body)
	}
	for _, conn := range []*client.Conn{web, mobile} {
		if got := closed(t, conn, 5*time.Second); got != 4003 {
			t.Fatalf("close = %d, want 4003", got)
		}
	}
	expectStatus(t, w, "alice", presence.StatusOffline, 5*time.Second)
}
