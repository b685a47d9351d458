package webhook_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/webhook"
)

func TestUserEvents(t *testing.T) {
	now := time.Unix(1790000000, 0)
	off := presence.Presence{UserID: "ann", Status: presence.StatusOffline, LastSeen: now.Add(-time.Hour)}
	on := presence.Presence{UserID: "ann", Status: presence.StatusOnline, Device: "web", Devices: []presence.Device{{Device: "web"}}}
	busy := on
	busy.Status = presence.StatusBusy
	custom := on
	custom.CustomStatus = "lunch"
	tabs := on
	tabs.Devices = []presence.Device{{Device: "phone"}, {Device: "web"}}
	invisible := on
	invisible.Invisible = true
	invisibleBusy := busy
	invisibleBusy.Invisible = true
	gone := off
	gone.LastSeen = now
	for _, tc := range []struct {
		name          string
		before, after presence.Presence
		want          webhook.Type
	}{
		{"comes online", off, on, webhook.UserOnline},
		{"goes offline", on, gone, webhook.UserOffline},
		{"status", on, busy, webhook.UserStatus},
		{"custom status", on, custom, webhook.UserStatus},
		{"another device is no status change", on, tabs, ""},
		{"turning invisible looks like going offline", on, invisible, webhook.UserOffline},
		{"an invisible user's changes are silent", invisible, invisibleBusy, ""},
		{"an invisible user's end is silent: they were already offline", invisible, gone, ""},
		{"turning visible looks like coming online", invisible, on, webhook.UserOnline},
		{"offline stays offline", off, gone, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := webhook.UserEvents(&tc.before, &tc.after, now)
			if tc.want == "" {
				if len(evs) != 0 {
					t.Fatalf("events %+v, want none", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].Type != tc.want || evs[0].UserID != "ann" || evs[0].TimeMS != now.UnixMilli() ||
				evs[0].Presence == nil || !evs[0].Presence.Equal(tc.after) {
				t.Fatalf("events %+v, want one %s", evs, tc.want)
			}
		})
	}
}

func TestRoomEvents(t *testing.T) {
	now := time.Unix(1790000000, 0)
	ann := &presence.RoomMember{UserID: "ann", Connections: []presence.RoomConn{{SessionID: "s1"}}}
	ann2 := &presence.RoomMember{UserID: "ann", Connections: []presence.RoomConn{{SessionID: "s1"}, {SessionID: "s2"}}}
	types := func(evs []webhook.Event) string {
		var s []string
		for _, e := range evs {
			if e.Room != "doc" {
				t.Fatalf("room %q", e.Room)
			}
			s = append(s, string(e.Type)+":"+e.UserID)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		name string
		ch   presence.RoomChange
		want string
	}{
		{"first member", presence.RoomChange{After: ann, Changed: true, Count: 1}, "room.occupied: room.member_joined:ann"},
		{"another member", presence.RoomChange{After: ann, Changed: true, Count: 2}, "room.member_joined:ann"},
		{"another connection", presence.RoomChange{Before: ann, After: ann2, Changed: true, Count: 1}, ""},
		{"a member leaves", presence.RoomChange{Before: ann, Changed: true, Count: 3}, "room.member_left:ann"},
		{"the last member leaves", presence.RoomChange{Before: ann, Changed: true}, "room.member_left:ann room.vacated:"},
		{"nothing changed", presence.RoomChange{Before: ann, After: ann, Count: 1}, ""},
	} {
		if got := types(webhook.RoomEvents("doc", &tc.ch, now)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBadConfigRefused(t *testing.T) {
	short := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16))
	long := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65))
	for _, s := range []string{short, long, "", "not-a-secret", "whsec_***"} {
		_, err := webhook.ParseSecret(s)
		if err == nil || !strings.Contains(err.Error(), "presenced gen-webhook-secret") {
			t.Errorf("secret %q: %v, want an error saying how to make one", s, err)
		}
	}
	for _, u := range []string{"ftp://example.com/x", "example.com/hook", "http://", "http://h/x#frag", "://x"} {
		if err := webhook.ValidateURL(u); err == nil || !strings.Contains(err.Error(), "--webhook-url") {
			t.Errorf("url %q: %v, want an error naming --webhook-url", u, err)
		}
	}
	if _, err := webhook.ParseTypes("user.online, user.bogus"); err == nil || !strings.Contains(err.Error(), `"user.bogus"`) {
		t.Errorf("unknown type: %v", err)
	}
	if ts, err := webhook.ParseTypes(""); err != nil || len(ts) != len(webhook.Types)-1 {
		t.Errorf("default types %v, %v", ts, err)
	}
	_, key := newSecret(t)
	ob := webhook.NewMemory(nil, 0, nil)
	for name, cfg := range map[string]webhook.Config{
		"no url":           {Key: key, Outbox: ob},
		"twice":            {URLs: []string{"http://a/x", "http://a/x"}, Key: key, Outbox: ob},
		"bad url":          {URLs: []string{"mailto:x@y"}, Key: key, Outbox: ob},
		"short key":        {URLs: []string{"http://a/x"}, Key: key[:10], Outbox: ob},
		"batch":            {URLs: []string{"http://a/x"}, Key: key, Outbox: ob, BatchMax: webhook.MaxBatch + 1},
		"negative max age": {URLs: []string{"http://a/x"}, Key: key, Outbox: ob, MaxAge: -time.Second},
	} {
		if _, err := webhook.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSecretRoundTrip(t *testing.T) {
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := webhook.ParseSecret(s)
	if err != nil || len(key) != 32 {
		t.Fatalf("%q: %d bytes, %v", s, len(key), err)
	}
	// The signature of the specification's own example.
	exKey, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	got := webhook.Signature(exKey, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %s", got)
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	p := presence.Presence{UserID: "ann\u2028\"x", Status: presence.StatusBusy, CustomStatus: "<b>&", LastSeen: time.UnixMilli(1790000000123),
		Devices: []presence.Device{{Device: "web"}}, V: 7}
	for _, ev := range []webhook.Event{
		{ID: "evt_1", Type: webhook.UserStatus, TimeMS: 1790000000123, UserID: p.UserID, Presence: &p},
		{ID: "evt_2", Type: webhook.RoomOccupied, TimeMS: 5, Room: "doc:\\1"},
		{ID: "evt_3", Type: webhook.RoomMemberLeft, TimeMS: 5, Room: "r", UserID: "é"},
	} {
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON\n%s\nencoding/json\n%s", got, want)
		}
	}
}
