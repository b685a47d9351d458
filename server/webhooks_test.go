package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/internal/webhooktest"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
	"github.com/presenced/presenced/webhook"
)

// hooks is a webhook receiver and how far a test has read its events.
type hooks struct {
	t    *testing.T
	rcv  *webhooktest.Receiver
	read int
}

// withHooks sends every event type to a new receiver. Events carry the
// fake clock's time, days behind the real one, so the maximum age is set
// far beyond it.
func withHooks(t *testing.T) (*hooks, func(*server.Config)) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	rcv := webhooktest.NewReceiver(t, secret)
	return &hooks{t: t, rcv: rcv}, func(cfg *server.Config) {
		cfg.Webhook = server.WebhookConfig{URLs: []string{rcv.URL()}, Secret: secret, Events: webhook.TypeList(webhook.Types),
			BatchWait: time.Millisecond, MaxAge: 10000 * time.Hour, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond}
	}
}

// withHooksOnDir is withHooks on a data dir of its own, which every node
// started with the returned config shares.
func withHooksOnDir(t *testing.T) (*hooks, func(*server.Config)) {
	k, hooks := withHooks(t)
	dir := t.TempDir()
	return k, func(c *server.Config) {
		hooks(c)
		c.DataDir = dir
	}
}

// expect waits for the next len(want) events and compares them with want,
// in any order (events of different users or rooms have no order between
// them), and returns them.
func (k *hooks) expect(want ...string) []webhooktest.Event {
	k.t.Helper()
	poll.Until(k.t, fmt.Sprintf("%d more events (want %q)", len(want), want), func() bool { return len(k.rcv.Events()) >= k.read+len(want) })
	evs := k.rcv.Events()[k.read:]
	k.read += len(want)
	got := make([]string, len(want))
	for i := range want {
		got[i] = evs[i].String()
	}
	slices.Sort(got)
	w := slices.Sorted(slices.Values(want))
	if !slices.Equal(got, w) {
		k.t.Fatalf("events %q, want %q", got, w)
	}
	return evs[:len(want)]
}

func TestWebhooksEveryEventTypeAndRoomControl(t *testing.T) {
	k, hookCfg := withHooks(t)
	h := start(t, hookCfg)
	alice := h.online("alice", "web")
	k.expect("user.online alice")
	if err := alice.SetStatus(ctx5(t), map[string]any{"status": "busy"}); err != nil {
		t.Fatal(err)
	}
	if ev := k.expect("user.status alice")[0]; ev.Presence == nil || ev.Presence.Status != "busy" {
		t.Fatalf("user.status carries %+v", ev.Presence)
	}
	h.join(alice, "doc:1", nil)
	k.expect("room.occupied @doc:1", "room.member_joined alice @doc:1")
	bob := h.dial("bob", "web")
	h.join(bob, "doc:1", nil)
	k.expect("user.online bob", "room.member_joined bob @doc:1")
	h.roomMsg(alice, protocol.TypeRoomJoin)
	bobTab := h.dial("bob", "tab")
	h.join(bobTab, "doc:1", nil)
	h.roomMsg(alice, protocol.TypeRoomUpdate)
	h.roomMsg(bob, protocol.TypeRoomUpdate)

	// The backend removes bob: both his connections are told, alice sees
	// him leave, and he is no longer a member anywhere.
	if code, body := h.api(http.MethodDelete, "/v1/rooms/doc:1/members/bob", nil, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE member: %d %s", code, body)
	}
	for _, c := range []*client.Conn{bob, bobTab} {
		if m := h.next(c); m.Type != protocol.TypeRoomRemoved || !strings.Contains(string(m.Raw), `"room":"doc:1"`) {
			t.Fatalf("bob's connection got %s, want room_removed", m.Raw)
		}
	}
	if l := h.roomMsg(alice, protocol.TypeRoomLeave); l.UserID != "bob" || l.Count != 1 {
		t.Fatalf("alice got %+v", l)
	}
	k.expect("room.member_left bob @doc:1")
	if code, body := h.api(http.MethodGet, "/v1/users/bob/rooms", nil, ""); code != http.StatusOK || !strings.Contains(string(body), `"rooms":[]`) {
		t.Fatalf("bob's rooms after the removal: %d %s", code, body)
	}
	if err := bob.UpdateRoomMeta(ctx5(t), "doc:1", map[string]any{"x": 1}); err == nil {
		t.Fatal("a removed connection still updates its meta")
	}
	for _, path := range []string{"/v1/rooms/doc:1/members/bob", "/v1/rooms/nowhere/members/alice"} {
		if code, body := h.api(http.MethodDelete, path, nil, ""); code != http.StatusNotFound || !strings.Contains(string(body), "not a member") {
			t.Fatalf("DELETE %s: %d %s, want 404", path, code, body)
		}
	}
	if code, _ := h.api(http.MethodDelete, "/v1/rooms/doc:1/members/alice", nil, signAt(t, "alice", t0.Add(time.Hour))); code != http.StatusForbidden {
		t.Fatalf("a user token removed a member: %d", code)
	}
	if code, _ := h.api(http.MethodDelete, "/v1/rooms/bad*room/members/alice", nil, ""); code != http.StatusBadRequest {
		t.Fatalf("a bad room name: %d", code)
	}

	// The room directory and the live figures.
	h.join(h.dial("zed", "web"), "chat:1", nil)
	k.expect("user.online zed", "room.occupied @chat:1", "room.member_joined zed @chat:1")
	for q, want := range map[string]string{
		"":                      `{"rooms":[{"room":"chat:1","count":1},{"room":"doc:1","count":1}],"next":null}`,
		"?prefix=doc:":          `{"rooms":[{"room":"doc:1","count":1}],"next":null}`,
		"?limit=1":              `{"rooms":[{"room":"chat:1","count":1}],"next":"chat:1"}`,
		"?limit=1&after=chat:1": `{"rooms":[{"room":"doc:1","count":1}],"next":null}`,
		"?prefix=none":          `{"rooms":[],"next":null}`,
	} {
		if code, body := h.api(http.MethodGet, "/v1/rooms"+q, nil, ""); code != http.StatusOK || strings.TrimSpace(string(body)) != want {
			t.Fatalf("GET /v1/rooms%s: %d %s, want %s", q, code, body, want)
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "prefix=" + strings.Repeat("p", 201), "after=" + strings.Repeat("a", 201)} {
		if code, _ := h.api(http.MethodGet, "/v1/rooms?"+q, nil, ""); code != http.StatusBadRequest {
			t.Fatalf("GET /v1/rooms?%.20s…: %d, want 400", q, code)
		}
	}
	for _, path := range []string{"/v1/rooms", "/v1/stats"} {
		if code, _ := h.api(http.MethodGet, path, nil, signAt(t, "alice", t0.Add(time.Hour))); code != http.StatusForbidden {
			t.Fatalf("a user token read %s: %d", path, code)
		}
		if code, _ := h.api(http.MethodGet, path, nil, "-"); code != http.StatusUnauthorized {
			t.Fatalf("no credentials read %s: %d", path, code)
		}
	}
	checkStats(t, h, `{"online_users":3,"sessions":4,"connections":4,"rooms":2,"node_connections":4}`)

	// A reconnect inside the grace sends nothing.
	carol := h.online("carol", "web")
	k.expect("user.online carol")
	h.gone(carol, true)
	h.advance(2*time.Second, 500*time.Millisecond, alice, bob, bobTab)
	carol = h.online("carol", "web")
	h.advance(10*time.Second, 500*time.Millisecond, alice, bob, bobTab, carol)
	h.online("dave", "web")
	k.expect("user.online dave")

	// The end of a grace: the user goes offline and leaves the room.
	h.gone(alice, true)
	h.advance(10*time.Second, 500*time.Millisecond, bob, bobTab, carol)
	for _, ev := range k.expect("user.offline alice", "room.member_left alice @doc:1", "room.vacated @doc:1") {
		if ev.Type == "user.offline" && (ev.Presence == nil || ev.Presence.Status != "offline" || ev.Presence.LastSeen == nil) {
			t.Fatalf("user.offline carries %+v", ev.Presence)
		}
	}

	// Turning invisible looks like going offline; nothing follows.
	erin := h.online("erin", "web")
	k.expect("user.online erin")
	if err := erin.SetStatus(ctx5(t), map[string]any{"status": "invisible"}); err != nil {
		t.Fatal(err)
	}
	k.expect("user.offline erin")
	if err := erin.SetStatus(ctx5(t), map[string]any{"custom_status": "hidden"}); err != nil {
		t.Fatal(err)
	}
	h.online("fay", "web")
	k.expect("user.online fay")
	checkStats(t, h, `{"online_users":6,"sessions":7,"connections":7,"rooms":1,"node_connections":7}`)
}

// checkStats compares GET /v1/stats with want.
func checkStats(t *testing.T, h *harness, want string) {
	t.Helper()
	code, body := h.api(http.MethodGet, "/v1/stats", nil, "")
	if code != http.StatusOK || strings.TrimSpace(string(body)) != want {
		t.Fatalf("GET /v1/stats: %d %s, want %s", code, body, want)
	}
}

// TestRedisStatsCountEveryNode runs two nodes on Redis Cluster: GET
// /v1/stats on either counts the users and sessions of both, through a
// second device on the other node, a session's grace and its end by a
// reaper; the connections of the live nodes as of their last renewal; and
// a stopped node's sessions ended by the other's takeover.
func TestRedisStatsCountEveryNode(t *testing.T) {
	c := startNodes(t, 2, sharedCluster(t).URL())
	a, b := c.nodes[0], c.nodes[1]
	web := a.online("alice", "web")
	mobile := b.online("alice", "mobile")
	bob := b.online("bob", "web")
	c.advance(time.Second, time.Second, web, mobile, bob) // renewals publish the connections
	statsBecome(t, a, `{"online_users":2,"sessions":3,"connections":3,"rooms":0,"node_connections":1}`)
	statsBecome(t, b, `{"online_users":2,"sessions":3,"connections":3,"rooms":0,"node_connections":2}`)

	a.gone(web, false) // alice's web session waits out its grace
	c.advance(time.Second, time.Second, mobile, bob)
	statsBecome(t, b, `{"online_users":2,"sessions":3,"connections":2,"rooms":0,"node_connections":2}`)
	c.advance(4*time.Second, time.Second, mobile, bob) // a reaper ends it
	statsBecome(t, b, `{"online_users":2,"sessions":2,"connections":2,"rooms":0,"node_connections":2}`)

	// B stops renewing (its hub closes, its lease lapses at once) with its
	// clients still connected: A takes over and ends B's sessions.
	b.srv.Hub().Close()
	c.nodes = c.nodes[:1]
	c.advance(2*time.Second, time.Second)
	statsBecome(t, a, `{"online_users":0,"sessions":0,"connections":0,"rooms":0,"node_connections":0}`)
}

// statsBecome waits until GET /v1/stats answers want: a node publishes
// its connections when it renews its lease, which its own loop may do
// after the tick that made the renewal due returned.
func statsBecome(t *testing.T, h *harness, want string) {
	t.Helper()
	var last string
	poll.Until(t, "GET /v1/stats to answer "+want, func() bool {
		code, body := h.api(http.MethodGet, "/v1/stats", nil, "")
		if got := strings.TrimSpace(string(body)); got != last {
			t.Logf("GET /v1/stats: %d %s", code, got)
			last = got
		}
		return code == http.StatusOK && last == want
	})
}

func TestWebhookSecretFromFile(t *testing.T) {
	secret, _ := webhook.NewSecret()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, func(c *server.Config) {
		c.Webhook = server.WebhookConfig{URLs: []string{"http://127.0.0.1:9/hooks"}, SecretFile: path}
	})
	if code, _ := h.api(http.MethodGet, "/healthz", nil, ""); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
}

func TestBadWebhookConfigRefusesToStart(t *testing.T) {
	short := "whsec_c2hvcnQ="
	good, _ := webhook.NewSecret()
	for name, c := range map[string]server.WebhookConfig{
		"short secret":  {URLs: []string{"http://127.0.0.1:9/h"}, Secret: short},
		"no secret":     {URLs: []string{"http://127.0.0.1:9/h"}},
		"bad url":       {URLs: []string{"127.0.0.1:9/h"}, Secret: good},
		"unknown event": {URLs: []string{"http://127.0.0.1:9/h"}, Secret: good, Events: "user.online,user.away"},
		"no url":        {Secret: good},
		"missing file":  {URLs: []string{"http://127.0.0.1:9/h"}, SecretFile: "/nonexistent/secret"},
	} {
		_, err := server.New(server.Config{Addr: "127.0.0.1:0", Dev: true, DataDir: t.TempDir(), Webhook: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil {
			t.Errorf("%s: started", name)
			continue
		}
		if name == "short secret" && !strings.Contains(err.Error(), "presenced gen-webhook-secret") {
			t.Errorf("short secret: %v does not say how to make one", err)
		}
	}
}

// TestRedisWebhooksOnceAndRoomControlAcrossNodes runs two nodes on Redis
// Cluster, both sending webhooks to one receiver: each change is announced
// once, by the node that made it, and a member is removed from a room on
// a node other than theirs.
func TestRedisWebhooksOnceAndRoomControlAcrossNodes(t *testing.T) {
	k, hookCfg := withHooks(t)
	c := startNodes(t, 2, sharedCluster(t).URL(), hookCfg)
	a, b := c.nodes[0], c.nodes[1]
	alice := a.dial("alice", "web")
	a.join(alice, "doc:9", nil)
	k.expect("user.online alice", "room.occupied @doc:9", "room.member_joined alice @doc:9")
	bob := b.dial("bob", "web")
	b.join(bob, "doc:9", nil)
	k.expect("user.online bob", "room.member_joined bob @doc:9")
	a.roomMsg(alice, protocol.TypeRoomJoin)

	if code, body := b.api(http.MethodDelete, "/v1/rooms/doc:9/members/alice", nil, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE on B: %d %s", code, body)
	}
	if m := a.next(alice); m.Type != protocol.TypeRoomRemoved {
		t.Fatalf("alice on A got %s, want room_removed", m.Raw)
	}
	if l := b.roomMsg(bob, protocol.TypeRoomLeave); l.UserID != "alice" || l.Count != 1 {
		t.Fatalf("bob got %+v", l)
	}
	k.expect("room.member_left alice @doc:9")
	if code, body := a.api(http.MethodDelete, "/v1/rooms/doc:9/members/alice", nil, ""); code != http.StatusNotFound {
		t.Fatalf("second DELETE: %d %s", code, body)
	}
	for _, n := range []*harness{a, b} {
		if code, body := n.api(http.MethodGet, "/v1/rooms?prefix=doc:", nil, ""); code != http.StatusOK ||
			strings.TrimSpace(string(body)) != `{"rooms":[{"room":"doc:9","count":1}],"next":null}` {
			t.Fatalf("GET /v1/rooms: %d %s", code, body)
		}
	}
	c.advance(time.Second, time.Second, alice, bob) // the nodes renew their leases with their connections
	statsBecome(t, a, `{"online_users":2,"sessions":2,"connections":2,"rooms":1,"node_connections":1}`)

	// A marker change, and then nothing more: no event was sent twice.
	a.online("carol", "web")
	k.expect("user.online carol")
	n := 0
	for _, d := range k.rcv.Accepted() {
		n += len(d.Msg.Events)
	}
	if n != k.read {
		t.Fatalf("%d events delivered, %d distinct: some were sent by both nodes", n, k.read)
	}
}

// TestRedisRoomWebhooksOfTheConfiguredTypes leaves room.occupied and
// room.vacated out of --webhook-events: the room's script writes only the
// joins and leaves.
func TestRedisRoomWebhooksOfTheConfiguredTypes(t *testing.T) {
	k, hookCfg := withHooks(t)
	c := startNodes(t, 1, sharedCluster(t).URL(), hookCfg, func(cfg *server.Config) {
		cfg.Webhook.Events = "user.online,room.member_joined,room.member_left"
	})
	a := c.nodes[0]
	a.join(a.dial("alice", "web"), "doc:2", nil)
	k.expect("user.online alice", "room.member_joined alice @doc:2")
	if code, body := a.api(http.MethodDelete, "/v1/rooms/doc:2/members/alice", nil, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	k.expect("room.member_left alice @doc:2")
	a.online("bob", "web")
	k.expect("user.online bob")
	if n := len(k.rcv.Events()); n != k.read {
		t.Fatalf("%d events delivered, want %d: %v", n, k.read, k.rcv.Events())
	}
}

// TestRemovedFromALargeRoomIsSummarised removes a member of a room past
// the announce limit: the others learn it from the next room_summary.
func TestRemovedFromALargeRoomIsSummarised(t *testing.T) {
	h := start(t, func(c *server.Config) { c.Rooms.RoomAnnounceMax = 2 })
	conns := h.inRoom("big", "a", "b")
	a := conns[0]
	for _, u := range []string{"c", "d"} {
		h.join(h.dial(u, "web"), "big", nil)
	}
	h.advance(2*time.Second, time.Second, a)
	if s := h.roomMsg(a, protocol.TypeRoomSummary); s.Count != 4 {
		t.Fatalf("summary = %+v", s)
	}
	c := h.dial("c", "tab")
	h.join(c, "big", nil)
	if code, body := h.api(http.MethodDelete, "/v1/rooms/big/members/c", nil, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	for {
		m := h.next(c)
		if m.Type == protocol.TypeRoomRemoved {
			break
		}
		if m.Type != protocol.TypeRoomSummary {
			t.Fatalf("c got %s", m.Raw)
		}
	}
	h.quiet(a)
	h.advance(2*time.Second, time.Second, a)
	if s := h.roomMsg(a, protocol.TypeRoomSummary); s.Count != 3 || !slices.Equal(s.Left, []string{"c"}) {
		t.Fatalf("summary after the removal = %+v", s)
	}
}

// TestWebhooksOfAStoppedNodeWaitInTheDataFile stops a node whose receiver
// fails: the events it could not deliver are sent by the next run on the
// same data file, once, with their ids.
func TestWebhooksOfAStoppedNodeWaitInTheDataFile(t *testing.T) {
	k, cfg := withHooksOnDir(t)
	k.rcv.Fail(http.StatusServiceUnavailable)
	h := start(t, cfg)
	h.online("alice", "web")
	h.online("bob", "web")
	poll.Until(t, "a failed delivery", func() bool { return len(k.rcv.Failed()) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = h.srv.Shutdown(ctx) // gives up on the receiver
	tried := map[string]string{}
	for _, d := range k.rcv.Failed() {
		for _, ev := range d.Msg.Events {
			tried[ev.String()] = ev.ID
		}
	}

	k.rcv.Fail(0)
	start(t, cfg)
	for _, ev := range k.expect("user.online alice", "user.online bob") {
		if id, ok := tried[ev.String()]; ok && id != ev.ID {
			t.Errorf("%s: id %s, %s before the restart", ev, ev.ID, id)
		}
	}
	if n := len(k.rcv.Events()); n != 2 {
		t.Errorf("%d events delivered, want 2: %v", n, k.rcv.Events())
	}
}
