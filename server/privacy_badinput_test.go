package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/presenced/presenced/server"
)

func TestPrivacyBadInputChangesNothing(t *testing.T) {
	h := start(t, nil)
	alice := h.online("alice", "web")
	h.mustAPI("PUT", "/v1/users/alice/privacy", map[string]any{"visibility": "contacts", "last_seen_visibility": "nobody"})
	h.mustAPI("PUT", "/v1/users/alice/contacts", map[string]any{"contacts": []string{"bob"}})
	h.mustAPI("PUT", "/v1/users/alice/blocks", map[string]any{"blocks": []string{"mallory"}})

	for _, tc := range []struct{ raw, code, mention string }{
		{`{"type":"set_privacy","visibility":"friends"}`, "invalid_argument", "everyone, contacts, nobody"},
		{`{"type":"set_privacy","visibility":"everyone","last_seen_visibility":"sometimes"}`, "invalid_argument", "last_seen_visibility"},
		{`{"type":"block"}`, "invalid_argument", "user_id"},
		{`{"type":"block","user_id":"alice"}`, "invalid_argument", "themselves"},
		{`{"type":"block","user_id":"a\u0007b"}`, "invalid_argument", "control"},
		{`{"type":"block","user_id":"` + strings.Repeat("x", 257) + `"}`, "invalid_argument", "256"},
		{`{"type":"unblock","user_id":""}`, "invalid_argument", "user_id"},
	} {
		m := h.errorReply(alice, tc.raw)
		if m.Code != tc.code || !strings.Contains(m.Message, tc.mention) {
			t.Errorf("%s → %s %q, want %s mentioning %q", tc.raw, m.Code, m.Message, tc.code, tc.mention)
		}
	}

	tooMany := make([]string, 10001)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("u%d", i)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"PUT", "/v1/users/alice/privacy", map[string]any{"visibility": "friends"}, 400, "invalid_argument"},
		{"PUT", "/v1/users/alice/privacy", map[string]any{"visibility": "everyone", "last_seen_visibility": 3}, 400, "bad_json"},
		{"PUT", "/v1/users/alice/contacts", map[string]any{"contacts": tooMany}, 413, "limit_exceeded"},
		{"POST", "/v1/users/alice/contacts", map[string]any{"contacts": tooMany[:10000]}, 413, "limit_exceeded"},
		{"PUT", "/v1/users/alice/contacts", map[string]any{"contacts": []string{"bob", ""}}, 400, "invalid_argument"},
		{"PUT", "/v1/users/alice/contacts", map[string]any{"friends": []string{"bob"}}, 400, "invalid_argument"},
		{"PUT", "/v1/users/alice/contacts", map[string]any{"contacts": "bob"}, 400, "invalid_argument"},
		{"POST", "/v1/users/alice/blocks", map[string]any{"blocks": []string{"alice"}}, 400, "invalid_argument"},
		{"POST", "/v1/users/alice/blocks", map[string]any{"blocks": []string{"a\x01b"}}, 400, "invalid_argument"},
		{"DELETE", "/v1/users/alice/blocks/" + strings.Repeat("x", 300), nil, 400, "invalid_argument"},
		{"PUT", "/v1/users/" + strings.Repeat("x", 300) + "/privacy", map[string]any{"visibility": "everyone"}, 400, "invalid_argument"},
		{"GET", "/v1/users/%01/export", nil, 400, "invalid_argument"},
	} {
		code, body := h.api(tc.method, tc.path, tc.body, "")
		var e struct{ Code, Message string }
		_ = json.Unmarshal(body, &e)
		if code != tc.status || e.Code != tc.code || e.Message == "" {
			t.Errorf("%s %.60s → %d %.200s, want %d %s", tc.method, tc.path, code, body, tc.status, tc.code)
		}
	}
	// A user's token cannot manage anyone's settings.
	if code, _ := h.api("GET", "/v1/users/alice/privacy", nil, signAt(t, "alice", t0.Add(3600e9))); code != 403 {
		t.Errorf("settings with a user token = %d", code)
	}

	for path, want := range map[string]string{
		"/v1/users/alice/privacy":  `{"visibility":"contacts","last_seen_visibility":"nobody","invisible":false}`,
		"/v1/users/alice/contacts": `{"contacts":["bob"]}`,
		"/v1/users/alice/blocks":   `{"blocks":["mallory"]}`,
	} {
		if got := strings.TrimSpace(string(h.mustAPI("GET", path, nil))); got != want {
			t.Errorf("GET %s = %.200s, want %s", path, got, want)
		}
	}
}

func TestBadDefaultVisibilityRefusesToStart(t *testing.T) {
	_, err := server.New(server.Config{Addr: "127.0.0.1:0", Dev: true, DataDir: t.TempDir(), DefaultVisibility: "friends"})
	if err == nil || !strings.Contains(err.Error(), "--default-visibility") {
		t.Fatalf("err = %v", err)
	}
}
