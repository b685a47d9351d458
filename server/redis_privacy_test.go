package server_test

import (
	"encoding/json"
	"testing"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/server"
)

// TestRedisPrivacyAcrossNodes changes alice's settings on node A (her own
// connection) and on node C (the HTTP API) while bob watches her from node
// B: bob's open subscription follows every change at once, and a node that
// only caches a user (bob connected there, alice seen there before) learns
// of changes it does not watch.
func TestRedisPrivacyAcrossNodes(t *testing.T) {
	c := startNodes(t, 3, sharedCluster(t).URL(), func(cfg *server.Config) {
		cfg.DefaultVisibility = "contacts"
		cfg.LastSeenReciprocity = true
	})
	a, b, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	l := &live{h: a, marker: a.online("marker", "web")}
	n3.mustAPI("PUT", "/v1/users/marker/privacy", map[string]any{"visibility": "everyone"})
	alice := a.online("alice", "web")
	if err := alice.SetStatus(ctx5(t), map[string]any{"custom_status": "in the lab"}); err != nil {
		t.Fatal(err)
	}
	n3.mustAPI("PUT", "/v1/users/alice/contacts", map[string]any{"contacts": []string{"bob"}})
	bob, snap := b.watch("bob", "alice", "marker")
	if snap["alice"].CustomStatus != "in the lab" {
		t.Fatalf("bob's snapshot of alice = %+v", snap["alice"])
	}
	// Node B subscribes alice's channel asynchronously. Wait until an
	// update of hers reaches bob, so each step below tests the live path
	// (a change racing with the subscription is hub's
	// TestPrivacyChangeReachingANodeBeforeItsEvent).
	if err := alice.SetStatus(ctx5(t), map[string]any{"custom_status": "in the lab, again"}); err != nil {
		t.Fatal(err)
	}
	held := a.update(bob)
	if held.UserID != "alice" || held.CustomStatus != "in the lab, again" {
		t.Fatalf("bob got %+v", held)
	}

	step := func(name string, do func()) {
		t.Helper()
		t.Log(name)
		do()
	}
	step("alice blocks bob on A", func() {
		a.request(alice, map[string]any{"type": "block", "user_id": "bob"})
		expectAfterResync(a, bob, "alice", presence.LevelHidden, held.V)
	})
	step("a blocked bob sees nothing move", func() {
		if err := alice.SetStatus(ctx5(t), map[string]any{"custom_status": "still here"}); err != nil {
			t.Fatal(err)
		}
		b.settled(bob, "alice")
	})
	step("the API on C unblocks him", func() {
		n3.mustAPI("DELETE", "/v1/users/alice/blocks/bob", nil)
		l.expect(bob, "alice", presence.LevelFull)
	})
	step("C removes bob from alice's contacts", func() {
		n3.mustAPI("DELETE", "/v1/users/alice/contacts/bob", nil)
		l.expect(bob, "alice", presence.LevelHidden)
	})
	step("A adds him back", func() {
		a.mustAPI("POST", "/v1/users/alice/contacts", map[string]any{"contacts": []string{"bob"}})
		l.expect(bob, "alice", presence.LevelFull)
	})
	step("alice sets visibility nobody on A", func() {
		a.request(alice, map[string]any{"type": "set_privacy", "visibility": "nobody"})
		l.expect(bob, "alice", presence.LevelHidden)
		b.settled(bob, "alice")
	})
	step("C sets it to everyone", func() {
		n3.mustAPI("PUT", "/v1/users/alice/privacy", map[string]any{"visibility": "everyone"})
		l.expect(bob, "alice", presence.LevelFull)
	})
	step("alice hides her last-seen on A", func() {
		a.request(alice, map[string]any{"type": "set_privacy", "last_seen_visibility": "nobody"})
		l.expect(bob, "alice", presence.LevelNoLastSeen)
		a.request(alice, map[string]any{"type": "set_privacy", "last_seen_visibility": "everyone"})
		l.expect(bob, "alice", presence.LevelFull)
	})
	// Nobody watches bob: only the control topic tells B, where bob is
	// connected, that his own settings changed.
	step("C hides bob's last-seen: by reciprocity he loses everyone's on B", func() {
		n3.mustAPI("PUT", "/v1/users/bob/privacy", map[string]any{"last_seen_visibility": "nobody"})
		l.expectAll(bob, map[string]presence.Level{"alice": presence.LevelNoLastSeen, "marker": presence.LevelNoLastSeen})
		b.settled(bob, "alice", "marker")
	})
	step("A shows it again", func() {
		a.mustAPI("PUT", "/v1/users/bob/privacy", map[string]any{"last_seen_visibility": "everyone"})
		l.expectAll(bob, map[string]presence.Level{"alice": presence.LevelFull, "marker": presence.LevelFull})
	})
	// B keeps alice's settings cached after bob leaves; a change made on C
	// meanwhile must not let a stale copy answer bob's next subscription.
	step("bob leaves B; C hides alice from everyone; bob comes back to B", func() {
		b.gone(bob, true)
		poll.Until(t, "B to stop watching alice", func() bool { return !b.srv.Hub().InUse("alice") })
		n3.mustAPI("PUT", "/v1/users/alice/privacy", map[string]any{"visibility": "nobody"})
		again, snap := b.watch("bob", "alice")
		if got := snap["alice"]; got.Status != presence.StatusOffline || got.CustomStatus != "" {
			t.Fatalf("bob's new snapshot of alice = %+v, want hidden", got)
		}
		n3.mustAPI("PUT", "/v1/users/alice/privacy", map[string]any{"visibility": "contacts"})
		expectAfterResync(b, again, "alice", presence.LevelFull, snap["alice"].V)
	})
}

// expectAfterResync is live.expect for a change made right after c's node
// started watching user: the node's first re-read of user, which may come
// that late, can fall between the settings write and the record's move,
// and then sends the new view at the record's version before the move (or,
// for a hidden view, the version c held) — docs/redis.md, "Privacy
// settings". So c's next message must be user's view at lvl now, at a
// version from held up to user's current one.
func expectAfterResync(h *harness, c *client.Conn, user string, lvl presence.Level, held uint64) {
	h.t.Helper()
	m := h.next(c)
	p, err := m.PresenceValue()
	if err != nil {
		h.t.Fatalf("got %s: %v", m.Raw, err)
	}
	var want presence.Presence
	if err := json.Unmarshal([]byte(h.viewJSON(user, lvl)), &want); err != nil {
		h.t.Fatal(err)
	}
	cur := want.V
	want.V = p.V
	if p.V < held || p.V > cur || string(m.Presence) != string(want.AppendJSON(nil)) {
		h.t.Fatalf("got %s\nwant %s at a version from %d to %d", m.Raw, h.viewJSON(user, lvl), held, cur)
	}
}
