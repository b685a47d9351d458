package server_test

import (
	"strings"
	"testing"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// live drives settings changes while viewers stay subscribed.
type live struct {
	h      *harness
	marker *client.Conn
	flip   bool
}

// expect asserts c's next message is an update of user carrying exactly
// the JSON a viewer at lvl sees now.
func (l *live) expect(c *client.Conn, user string, lvl presence.Level) {
	l.h.t.Helper()
	m := l.h.next(c)
	want := l.h.viewJSON(user, lvl)
	if m.Type != protocol.TypePresenceUpdate || string(m.Presence) != want {
		l.h.t.Fatalf("got %s\nwant presence_update %s", m.Raw, want)
	}
}

// expectAll is expect for several users, in any order.
func (l *live) expectAll(c *client.Conn, want map[string]presence.Level) {
	l.h.t.Helper()
	for n := len(want); n > 0; n-- {
		m := l.h.next(c)
		p, err := m.PresenceValue()
		lvl, ok := want[p.UserID]
		if err != nil || !ok {
			l.h.t.Fatalf("unexpected %s", m.Raw)
		}
		if exp := l.h.viewJSON(p.UserID, lvl); string(m.Presence) != exp {
			l.h.t.Fatalf("got %s\nwant presence_update %s", m.Raw, exp)
		}
		delete(want, p.UserID)
	}
}

// quiet asserts that nothing reached the given watchers since their last
// expected message: the marker's next update must come first.
func (l *live) quiet(cs ...*client.Conn) {
	l.h.t.Helper()
	status := "busy"
	if l.flip {
		status = "away"
	}
	l.flip = !l.flip
	if err := l.marker.SetStatus(ctx5(l.h.t), map[string]any{"status": status}); err != nil {
		l.h.t.Fatal(err)
	}
	for _, c := range cs {
		if p := l.h.update(c); p.UserID != "marker" || string(p.Status) != status {
			l.h.t.Fatalf("got %+v before the marker", p)
		}
	}
}

func TestPrivacyChangesApplyToOpenSubscriptions(t *testing.T) {
	h := start(t, func(c *server.Config) { c.DefaultVisibility = "contacts"; c.LastSeenReciprocity = true })
	l := &live{h: h, marker: h.online("marker", "web")}
	h.mustAPI("PUT", "/v1/users/marker/privacy", map[string]any{"visibility": "everyone"})
	alice := h.online("alice", "web")
	if err := alice.SetStatus(ctx5(t), map[string]any{"custom_status": "in the lab", "activity": "focus"}); err != nil {
		t.Fatal(err)
	}
	h.mustAPI("PUT", "/v1/users/alice/contacts", map[string]any{"contacts": []string{"bob"}})
	bob, _ := h.watch("bob", "alice", "marker")
	carol, snap := h.watch("carol", "alice", "marker") // never allowed: must never see anything move
	if snap["alice"].Status != presence.StatusOffline {
		t.Fatalf("carol sees %+v", snap["alice"])
	}
	self, _ := h.watch("alice", "alice")

	step := func(name string, do func()) {
		t.Helper()
		t.Log(name)
		do()
	}
	step("alice removes bob from her contacts", func() {
		h.mustAPI("DELETE", "/v1/users/alice/contacts/bob", nil)
		l.expect(bob, "alice", presence.LevelHidden)
	})
	step("and adds him back", func() {
		h.mustAPI("POST", "/v1/users/alice/contacts", map[string]any{"contacts": []string{"bob"}})
		l.expect(bob, "alice", presence.LevelFull)
	})
	step("alice blocks bob", func() {
		h.request(alice, map[string]any{"type": "block", "user_id": "bob"})
		l.expect(bob, "alice", presence.LevelHidden)
	})
	step("a blocked bob sees nothing move", func() {
		if err := alice.SetStatus(ctx5(t), map[string]any{"custom_status": "still here"}); err != nil {
			t.Fatal(err)
		}
		l.expect(self, "alice", presence.LevelFull)
		l.quiet(bob, carol)
	})
	step("the API unblocks him", func() {
		h.mustAPI("DELETE", "/v1/users/alice/blocks/bob", nil)
		l.expect(bob, "alice", presence.LevelFull)
	})
	step("alice goes invisible; she still sees herself", func() {
		if err := alice.SetStatus(ctx5(t), map[string]any{"status": "invisible"}); err != nil {
			t.Fatal(err)
		}
		l.expect(bob, "alice", presence.LevelHidden)
		m := h.next(self)
		if !strings.Contains(string(m.Presence), `"status":"online"`) || !strings.Contains(string(m.Presence), `"invisible":true`) {
			t.Fatalf("alice's own view = %s", m.Raw)
		}
		m = h.request(alice, map[string]any{"type": "get_privacy"})
		if !strings.HasSuffix(string(m.Raw), `"visibility":"contacts","last_seen_visibility":"everyone","invisible":true}`) {
			t.Fatalf("get_privacy = %s", m.Raw)
		}
	})
	step("and visible again", func() {
		if err := alice.SetStatus(ctx5(t), map[string]any{"status": "online"}); err != nil {
			t.Fatal(err)
		}
		l.expect(bob, "alice", presence.LevelFull)
		l.expect(self, "alice", presence.LevelFull)
	})
	step("alice hides her last-seen", func() {
		h.request(alice, map[string]any{"type": "set_privacy", "last_seen_visibility": "nobody"})
		l.expect(bob, "alice", presence.LevelNoLastSeen)
	})
	step("alice shows herself to everyone: carol sees her, bob's view is unchanged", func() {
		h.mustAPI("PUT", "/v1/users/alice/privacy", map[string]any{"visibility": "everyone"})
		l.expect(carol, "alice", presence.LevelNoLastSeen)
		l.quiet(bob, carol)
	})
	step("alice shows her last-seen again", func() {
		h.mustAPI("PUT", "/v1/users/alice/privacy", map[string]any{"last_seen_visibility": "everyone"})
		l.expect(bob, "alice", presence.LevelFull)
		l.expect(carol, "alice", presence.LevelFull)
	})
	step("bob hides his own last-seen and, by reciprocity, loses everyone's", func() {
		h.request(bob, map[string]any{"type": "set_privacy", "last_seen_visibility": "nobody"})
		l.expectAll(bob, map[string]presence.Level{"alice": presence.LevelNoLastSeen, "marker": presence.LevelNoLastSeen})
		l.quiet(bob, carol)
	})
	step("bob shows his again", func() {
		h.request(bob, map[string]any{"type": "set_privacy", "last_seen_visibility": "everyone"})
		l.expectAll(bob, map[string]presence.Level{"alice": presence.LevelFull, "marker": presence.LevelFull})
	})
	step("alice goes back to nobody", func() {
		h.mustAPI("PUT", "/v1/users/alice/privacy", map[string]any{"visibility": "nobody"})
		l.expect(bob, "alice", presence.LevelHidden)
		l.expect(carol, "alice", presence.LevelHidden)
		l.quiet(bob, carol)
	})
	step("the API erases alice: her sessions end and nothing about her is left", func() {
		if code, body := h.api("DELETE", "/v1/users/alice", nil, ""); code != 204 {
			t.Fatalf("DELETE = %d %s", code, body)
		}
		if got := h.closed(alice); got != protocol.CloseKicked {
			t.Fatalf("close = %d", got)
		}
		code, body := h.api("GET", "/v1/users/alice/export", nil, "")
		want := `"privacy":{"visibility":"contacts","last_seen_visibility":"everyone","invisible":false},"contacts":[],"blocks":[]}`
		if code != 200 || !strings.Contains(string(body), want) || strings.Contains(string(body), "in the lab") || strings.Contains(string(body), "bob") {
			t.Fatalf("export after erase = %d %s", code, body)
		}
	})
}
