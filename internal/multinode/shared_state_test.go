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

// roomMsg returns c's next message, which must be a room message of typ.
func roomMsg(t *testing.T, c *client.Conn, typ string, within time.Duration) protocol.RoomMessage {
	t.Helper()
	m, err := c.Next(ctxFor(t, within))
	if err != nil {
		t.Fatalf("waiting %s for %s: %v", within, typ, err)
	}
	r, err := m.Room()
	if err != nil || m.Type != typ {
		t.Fatalf("got %s, want %s", m.Raw, typ)
	}
	return r
}

// newer returns c's next update newer than v, skipping repeats of what c
// has (a watcher may be sent its snapshot's version again when its node's
// subscription takes effect).
func newer(t *testing.T, c *client.Conn, v uint64) presence.Presence {
	t.Helper()
	for {
		if p := update(t, c, 5*time.Second); p.V > v {
			return p
		}
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

// TestPrivacyAcrossNodes: alice on B blocks bob, who watches her from A;
// the API on C unblocks him. Settings are shared, so every node applies
// them the same way, and the change reaches bob at once.
func TestPrivacyAcrossNodes(t *testing.T) {
	a, b, c := threeNodes(t)
	alice := online(t, b, "alice", "web")
	if err := alice.SetStatus(ctxFor(t, 5*time.Second), map[string]any{"custom_status": "here"}); err != nil {
		t.Fatal(err)
	}
	bob, snap := watch(t, a, "bob", "alice")
	if snap["alice"].Status != presence.StatusOnline {
		t.Fatalf("bob's snapshot = %+v", snap["alice"])
	}
	// A subscribes alice's channel asynchronously. Wait until an update of
	// hers reaches bob, so the block below takes the live path (a change
	// racing with the subscription is hub's
	// TestPrivacyChangeReachingANodeBeforeItsEvent).
	if err := alice.SetStatus(ctxFor(t, 5*time.Second), map[string]any{"custom_status": "here, again"}); err != nil {
		t.Fatal(err)
	}
	live := newer(t, bob, snap["alice"].V)
	if live.CustomStatus != "here, again" {
		t.Fatalf("bob got %+v", live)
	}
	snap["alice"] = live
	if _, err := alice.Request(ctxFor(t, 5*time.Second), map[string]any{"type": "block", "user_id": "bob"}); err != nil {
		t.Fatal(err)
	}
	// The hidden view comes at the version the block gave alice or, when
	// A re-read her between the settings write and that version (its
	// subscription's first re-read may come that late), at the version bob
	// has (docs/redis.md, "Privacy settings").
	if p := update(t, bob, 5*time.Second); p.V < snap["alice"].V || p.Status != presence.StatusOffline || p.CustomStatus != "" {
		t.Fatalf("bob sees blocked alice as %+v", p)
	}
	hidden := snap["alice"]
	hidden.V = 0
	if code, body := api(t, a, "GET", "/v1/users/alice/export", nil); code == http.StatusOK {
		var e struct {
			State struct {
				HiddenV uint64 `json:"hidden_v"`
			} `json:"state"`
		}
		mustJSON(t, body, &e)
		hidden.V = e.State.HiddenV
	}
	// A fresh read on C agrees: bob's token is not needed, the API key reads
	// the settings from Redis.
	if code, body := api(t, c, "GET", "/v1/users/alice/blocks", nil); code != http.StatusOK || string(body) == "" {
		t.Fatalf("GET blocks on C = %d %s", code, body)
	}
	if code, body := api(t, c, "DELETE", "/v1/users/alice/blocks/bob", nil); code/100 != 2 {
		t.Fatalf("unblock on C = %d %s", code, body)
	}
	if p := newer(t, bob, hidden.V); p.Status != presence.StatusOnline || p.CustomStatus != "here, again" {
		t.Fatalf("bob sees unblocked alice as %+v", p)
	}
}

// TestRoomMemberOfAKilledNodeLeaves: bob's node is killed with -9; alice,
// in the same room on another node, gets bob's room_leave once his session
// expires (TTL), settled by a surviving node.
func TestRoomMemberOfAKilledNodeLeaves(t *testing.T) {
	a, b, _ := threeNodes(t)
	alice := dial(t, a, "alice", "web")
	if _, err := alice.JoinRoom(ctxFor(t, 5*time.Second), "doc:1", nil); err != nil {
		t.Fatal(err)
	}
	bob := dial(t, b, "bob", "web")
	st, err := bob.JoinRoom(ctxFor(t, 5*time.Second), "doc:1", nil)
	if err != nil || st.Count != 2 {
		t.Fatalf("bob's room_state = %+v, %v", st, err)
	}
	if j := roomMsg(t, alice, protocol.TypeRoomJoin, 5*time.Second); j.Member.UserID != "bob" || j.Count != 2 {
		t.Fatalf("room_join = %+v", j)
	}
	killed := time.Now()
	b.kill()
	l := roomMsg(t, alice, protocol.TypeRoomLeave, ttl+3*time.Second)
	if d := time.Since(killed); l.UserID != "bob" || l.Count != 1 || d > ttl+time.Second {
		t.Fatalf("room_leave %+v %s after the kill; want bob's within TTL + 1s", l, d)
	}
	t.Logf("kill -9 → room_leave at another node after %s (TTL %s)", time.Since(killed).Round(time.Millisecond), ttl)
}
