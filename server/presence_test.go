package server_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

func TestWelcome(t *testing.T) {
	h := start(t, nil)
	c := h.dial("alice", "web")
	w := c.Welcome
	if w.UserID != "alice" || w.SessionID == "" || w.HeartbeatIntervalMS != 15000 || w.HeartbeatTTLMS != 30000 {
		t.Fatalf("welcome = %s", w.Raw)
	}
}

func TestSnapshotListsEveryIDAndNeverSeenIsOffline(t *testing.T) {
	h := start(t, nil)
	h.online("bob", "web")
	_, snap := h.watch("alice", "bob", "carol")
	if len(snap) != 2 {
		t.Fatalf("snapshot = %v", snap)
	}
	if p := snap["bob"]; p.Status != presence.StatusOnline || p.V != 1 || !p.LastSeen.Equal(t0) {
		t.Fatalf("bob = %+v", p)
	}
	if p := snap["carol"]; p.Status != presence.StatusOffline || !p.LastSeen.IsZero() || p.V != 0 {
		t.Fatalf("carol = %+v", p)
	}
}

func TestUpdatesFlowAndHeartbeatsAreSilent(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice")

	alice := h.dial("alice", "web")
	if err := alice.Heartbeat(ctx5(t)); err != nil { // a heartbeat opens the session
		t.Fatal(err)
	}
	p := h.expectStatus(w, "alice", presence.StatusOnline)
	if p.V != 1 || p.Device != "web" {
		t.Fatalf("alice = %+v", p)
	}
	for range 5 {
		if err := alice.Heartbeat(ctx5(t)); err != nil {
			t.Fatal(err)
		}
	}
	h.keepAlive(alice)
	h.settled(w, "alice")

	if err := alice.SetStatus(ctx5(t), map[string]any{"status": "busy", "activity": "in_call", "custom_status": "Back at 3", "custom_emoji": "🍔"}); err != nil {
		t.Fatal(err)
	}
	p = h.expectStatus(w, "alice", presence.StatusBusy)
	if p.Activity != presence.ActivityInCall || p.CustomStatus != "Back at 3" || p.CustomEmoji != "🍔" || p.V != 2 {
		t.Fatalf("alice = %+v", p)
	}
	// Absent fields stay; an empty string clears.
	if err := alice.SetStatus(ctx5(t), map[string]any{"custom_status": ""}); err != nil {
		t.Fatal(err)
	}
	p = h.expectStatus(w, "alice", presence.StatusBusy)
	if p.CustomStatus != "" || p.Activity != presence.ActivityInCall {
		t.Fatalf("alice = %+v", p)
	}
	if err := alice.SetStatus(ctx5(t), map[string]any{"status": "online"}); err != nil {
		t.Fatal(err)
	}
	h.expectStatus(w, "alice", presence.StatusOnline)
}

func TestIdleAndAway(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice")
	alice := h.online("alice", "web")
	h.expectStatus(w, "alice", presence.StatusOnline)
	if err := alice.IdleState(ctx5(t), true); err != nil {
		t.Fatal(err)
	}
	if p := h.expectStatus(w, "alice", presence.StatusAway); !p.Idle {
		t.Fatalf("alice = %+v", p)
	}
	if err := alice.IdleState(ctx5(t), false); err != nil {
		t.Fatal(err)
	}
	h.expectStatus(w, "alice", presence.StatusOnline)
	// Having reported activity, alice turns idle on her own after --away-after.
	h.advance(5*time.Minute, 10*time.Second, alice, w)
	if p := h.expectStatus(w, "alice", presence.StatusAway); !p.Idle {
		t.Fatalf("alice = %+v", p)
	}
}

func TestCleanCloseGoesOfflineAfterGrace(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice", "marker")
	marker := h.online("marker", "web")
	h.expectStatus(w, "marker", presence.StatusOnline)
	alice := h.online("alice", "web")
	h.expectStatus(w, "alice", presence.StatusOnline)
	h.clock.Advance(2 * time.Second)
	h.keepAlive(alice)
	closedAt := h.clock.Now()
	h.gone(alice, false)
	h.advance(5*time.Second-time.Millisecond, time.Second, w, marker)
	h.settled(w, "alice") // nothing yet: still in the grace
	h.advance(time.Millisecond, time.Millisecond, w, marker)
	p := h.expectStatus(w, "alice", presence.StatusOffline)
	if !p.LastSeen.Equal(closedAt) || p.Device != "" || len(p.Devices) != 0 {
		t.Fatalf("offline = %+v, want last_seen %v", p, closedAt)
	}
}

func TestReconnectWithinGraceIsUnseen(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice", "marker")
	marker := h.online("marker", "web")
	h.expectStatus(w, "marker", presence.StatusOnline)
	alice := h.online("alice", "web")
	h.expectStatus(w, "alice", presence.StatusOnline)
	h.gone(alice, true) // the network went away
	h.advance(3*time.Second, time.Second, w, marker)
	again := h.online("alice", "web")
	h.advance(30*time.Second, 10*time.Second, w, marker, again)
	h.settled(w, "alice")
}

func TestOtherDeviceKeepsUserOnline(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice")
	web := h.online("alice", "web")
	h.expectStatus(w, "alice", presence.StatusOnline)
	mobile := h.online("alice", "mobile")
	if p := h.expectStatus(w, "alice", presence.StatusOnline); len(p.Devices) != 2 || p.Device != "mobile" {
		t.Fatalf("alice = %+v", p)
	}
	h.gone(web, false)
	h.advance(6*time.Second, time.Second, w, mobile)
	// After the grace only the device list shrinks; alice never goes offline.
	if p := h.expectStatus(w, "alice", presence.StatusOnline); len(p.Devices) != 1 || p.Devices[0].Device != "mobile" {
		t.Fatalf("alice = %+v", p)
	}
}

func TestSilentClientExpiresAtTTL(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice")
	silent, err := client.DialSilent(ctx5(t), h.base, client.Options{UserID: "alice", Device: "web"})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	h.expectStatus(w, "alice", presence.StatusOnline)
	h.advance(30*time.Second-time.Millisecond, 5*time.Second, w)
	h.keepAlive(w)
	h.advance(time.Millisecond, time.Millisecond, w)
	p := h.expectStatus(w, "alice", presence.StatusOffline)
	if !p.LastSeen.Equal(t0) {
		t.Fatalf("last_seen = %v, want the last sign of life %v", p.LastSeen, t0)
	}
}

func TestSetOfflineEndsAtOnceWithoutGrace(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice")
	alice := h.online("alice", "web")
	h.expectStatus(w, "alice", presence.StatusOnline)
	if err := alice.SetOffline(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	h.expectStatus(w, "alice", presence.StatusOffline)
	// The connection stays usable as a watcher.
	if _, err := alice.GetPresence(ctx5(t), "watcher"); err != nil {
		t.Fatal(err)
	}
}

func TestCustomStatusExpiryIsPushed(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice")
	alice := h.online("alice", "web")
	h.expectStatus(w, "alice", presence.StatusOnline)
	exp := t0.Add(time.Minute).Unix()
	if err := alice.SetStatus(ctx5(t), map[string]any{"custom_status": "brb", "expires_at": exp}); err != nil {
		t.Fatal(err)
	}
	if p := h.update(w); p.CustomStatus != "brb" || p.CustomExpiresAt != exp {
		t.Fatalf("alice = %+v", p)
	}
	h.advance(time.Minute, 10*time.Second, w, alice)
	if p := h.update(w); p.CustomStatus != "" || p.CustomExpiresAt != 0 {
		t.Fatalf("alice after expiry = %+v", p)
	}
}

func TestUnsubscribeStopsUpdates(t *testing.T) {
	h := start(t, nil)
	w, _ := h.watch("watcher", "alice")
	if err := w.Unsubscribe(ctx5(t), "alice"); err != nil {
		t.Fatal(err)
	}
	h.online("alice", "web")
	h.settled(w, "alice")
}

func TestGetPresence(t *testing.T) {
	h := start(t, nil)
	h.online("bob", "web")
	c := h.dial("alice", "web")
	ps, err := c.GetPresence(ctx5(t), "bob", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if ps["bob"].Status != presence.StatusOnline || ps["nobody"].Status != presence.StatusOffline {
		t.Fatalf("presences = %+v", ps)
	}
}

func TestSnapshotIsNeverOlderThanUpdates(t *testing.T) {
	h := start(t, nil)
	bob := h.online("bob", "web")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 40 {
			status := []string{"busy", "away", "online"}[i%3]
			if err := bob.SetStatus(ctx5(t), map[string]any{"status": status}); err != nil {
				return
			}
		}
	}()
	for range 10 {
		w := h.dial("watcher", "web")
		snap, err := w.Subscribe(ctx5(t), "bob")
		if err != nil {
			t.Fatal(err)
		}
		last := snap["bob"].V
		for last < 41 {
			m, err := w.Next(ctx5(t))
			if err != nil || m.Type != protocol.TypePresenceUpdate {
				break
			}
			p, _ := m.PresenceValue()
			if p.V <= last {
				t.Fatalf("update v%d after v%d", p.V, last)
			}
			last = p.V
		}
		w.Drop()
	}
	<-done
}

// TestGetPresenceRepliesInRequestOrder: the reply lists each user once, in
// the order the request named them (a client may render it as is).
func TestGetPresenceRepliesInRequestOrder(t *testing.T) {
	h := start(t, nil)
	h.online("bob", "web")
	c := h.dial("alice", "web")
	ids := []string{"zed", "bob", "mia", "bob", "carl", "ann", "zed", "lou"}
	m, err := c.Request(ctx5(t), map[string]any{"type": protocol.TypeGetPresence, "user_ids": ids})
	if err != nil {
		t.Fatal(err)
	}
	var reply struct{ Presences json.RawMessage }
	mustJSON(t, m.Raw, &reply)
	dec := json.NewDecoder(bytes.NewReader(reply.Presences))
	var order []string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s", m.Raw)
	}
	for dec.More() {
		tok, _ := dec.Token()
		order = append(order, tok.(string))
		var p presence.Presence
		if err := dec.Decode(&p); err != nil || p.UserID != tok {
			t.Fatalf("%s: %v", m.Raw, err)
		}
	}
	if got := strings.Join(order, ","); got != "zed,bob,mia,carl,ann,lou" {
		t.Fatalf("reply lists %s, want zed,bob,mia,carl,ann,lou", got)
	}
}
