package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/server"
)

// privacyCase is one cell of the matrix: alice's settings as bob sees them.
type privacyCase struct {
	visibility, lastSeen string // alice's
	contact              bool   // bob is in alice's contacts
	invisible, blocked   bool   // alice is invisible; alice blocks bob
	bobLastSeen          string // bob's own last-seen visibility
}

func (c privacyCase) String() string {
	return fmt.Sprintf("vis=%s ls=%s contact=%v invisible=%v blocked=%v bob_ls=%s",
		c.visibility, c.lastSeen, c.contact, c.invisible, c.blocked, c.bobLastSeen)
}

// expected is the rule, written out independently of the privacy package.
func (c privacyCase) expected(reciprocity bool) presence.Level {
	if c.invisible || c.blocked || c.visibility == "nobody" || (c.visibility == "contacts" && !c.contact) {
		return presence.LevelHidden
	}
	if c.lastSeen == "nobody" || (c.lastSeen == "contacts" && !c.contact) {
		return presence.LevelNoLastSeen
	}
	if reciprocity && c.bobLastSeen == "nobody" {
		return presence.LevelNoLastSeen
	}
	return presence.LevelFull
}

func allCases() []privacyCase {
	var out []privacyCase
	for _, vis := range []string{"everyone", "contacts", "nobody"} {
		for _, ls := range []string{"everyone", "contacts", "nobody"} {
			for _, contact := range []bool{false, true} {
				for _, invisible := range []bool{false, true} {
					for _, blocked := range []bool{false, true} {
						for _, bls := range []string{"everyone", "nobody"} {
							out = append(out, privacyCase{vis, ls, contact, invisible, blocked, bls})
						}
					}
				}
			}
		}
	}
	return out
}

// hiddenJSON is what a viewer who may not see a user receives, byte for byte.
func hiddenJSON(user string, v uint64) string {
	return `{"user_id":"` + user + `","status":"offline","activity":null,"activity_expires_at":null,"custom_status":null,` +
		`"custom_emoji":null,"custom_status_expires_at":null,"last_seen":null,"device":null,"devices":[],"idle":false,"v":` +
		fmt.Sprint(v) + `}`
}

// export reads everything stored about user.
func (h *harness) export(user string) (state struct {
	Version uint64 `json:"v"`
	HiddenV uint64 `json:"hidden_v"`
}) {
	h.t.Helper()
	code, body := h.api("GET", "/v1/users/"+user+"/export", nil, "")
	var out struct {
		State json.RawMessage `json:"state"`
	}
	if code != 200 || json.Unmarshal(body, &out) != nil || json.Unmarshal(out.State, &state) != nil {
		h.t.Fatalf("export %s = %d %s", user, code, body)
	}
	return state
}

// viewJSON is the exact JSON a viewer at lvl receives of user now.
func (h *harness) viewJSON(user string, lvl presence.Level) string {
	h.t.Helper()
	st := h.export(user)
	if lvl == presence.LevelHidden {
		return hiddenJSON(user, st.HiddenV)
	}
	code, body := h.api("GET", "/v1/presence/"+user, nil, "")
	var p presence.Presence
	if code != 200 || json.Unmarshal(body, &p) != nil {
		h.t.Fatalf("GET %s = %d %s", user, code, body)
	}
	p.Invisible = false
	if lvl == presence.LevelNoLastSeen {
		p.LastSeen = time.Time{}
	}
	return string(p.AppendJSON(nil))
}

func (h *harness) mustAPI(method, path string, body any) []byte {
	h.t.Helper()
	code, b := h.api(method, path, body, "")
	if code/100 != 2 {
		h.t.Fatalf("%s %s = %d %s", method, path, code, b)
	}
	return b
}

func (h *harness) request(c *client.Conn, msg map[string]any) client.Message {
	h.t.Helper()
	m, err := c.Request(ctx5(h.t), msg)
	if err != nil {
		h.t.Fatalf("%v: %v", msg, err)
	}
	return m
}

// TestPrivacyMatrix walks every combination of alice's settings and bob's
// over every path bob reads alice by: the subscribe snapshot, a pushed
// update, get_presence, and the HTTP reads with bob's token, and asserts
// the exact JSON bob receives.
func TestPrivacyMatrix(t *testing.T) {
	for _, reciprocity := range []bool{false, true} {
		t.Run(fmt.Sprintf("reciprocity=%v", reciprocity), func(t *testing.T) {
			h := start(t, func(c *server.Config) { c.DefaultVisibility = "contacts"; c.LastSeenReciprocity = reciprocity })
			// olga is offline, shows presence to everyone, hides last-seen,
			// has nothing set: a hidden user must look exactly like her.
			h.mustAPI("PUT", "/v1/users/olga/privacy", map[string]any{"visibility": "everyone", "last_seen_visibility": "nobody"})
			for i, c := range allCases() {
				if t.Failed() {
					return
				}
				h.privacyCell(i, c, reciprocity)
			}
		})
	}
}

func (h *harness) privacyCell(i int, c privacyCase, reciprocity bool) {
	t := h.t
	alice, bob, marker := fmt.Sprintf("alice%d", i), fmt.Sprintf("bob%d", i), fmt.Sprintf("marker%d", i)
	want := c.expected(reciprocity)

	a := h.online(alice, "web")
	if err := a.SetStatus(ctx5(t), map[string]any{"custom_status": "in the lab"}); err != nil {
		t.Fatal(err)
	}
	h.mustAPI("PUT", "/v1/users/"+alice+"/privacy", map[string]any{"visibility": c.visibility, "last_seen_visibility": c.lastSeen})
	contacts := []string{"someone-else"}
	if c.contact {
		contacts = append(contacts, bob)
	}
	h.mustAPI("PUT", "/v1/users/"+alice+"/contacts", map[string]any{"contacts": contacts})
	if c.blocked {
		if m := h.request(a, map[string]any{"type": "block", "user_id": bob}); m.Type != protocol.TypeAck {
			t.Fatalf("block → %s", m.Raw)
		}
	}
	if c.invisible {
		if err := a.SetStatus(ctx5(t), map[string]any{"status": "invisible"}); err != nil {
			t.Fatal(err)
		}
	}
	h.online(marker, "web")
	h.mustAPI("PUT", "/v1/users/"+marker+"/privacy", map[string]any{"visibility": "everyone"})

	b := h.dial(bob, "web")
	m := h.request(b, map[string]any{"type": "set_privacy", "last_seen_visibility": c.bobLastSeen})
	wantPrivacy := `"visibility":"contacts","last_seen_visibility":"` + c.bobLastSeen + `","invisible":false}`
	if m.Type != protocol.TypePrivacy || !strings.HasSuffix(string(m.Raw), wantPrivacy) {
		t.Fatalf("%v: set_privacy → %s", c, m.Raw)
	}

	exp := h.viewJSON(alice, want)
	check := func(path string, got []byte) {
		t.Helper()
		if string(bytes.TrimSpace(got)) != exp {
			t.Fatalf("%v, %s:\n got %s\nwant %s", c, path, got, exp)
		}
	}
	snap := h.request(b, map[string]any{"type": "subscribe", "user_ids": []string{alice, marker}})
	check("initial_presence", snap.Presences[alice])
	gp := h.request(b, map[string]any{"type": "get_presence", "user_ids": []string{alice}})
	check("get_presence", gp.Presences[alice])
	token := signAt(t, bob, t0.Add(time.Hour))
	code, body := h.api("GET", "/v1/presence/"+alice, nil, token)
	if code != 200 {
		t.Fatalf("GET with bob's token = %d %s", code, body)
	}
	check("GET /v1/presence", body)
	code, body = h.api("POST", "/v1/presence/bulk", map[string]any{"user_ids": []string{alice, "olga"}}, token)
	var bulk struct {
		Presences map[string]json.RawMessage `json:"presences"`
	}
	if code != 200 || json.Unmarshal(body, &bulk) != nil {
		t.Fatalf("bulk = %d %s", code, body)
	}
	check("bulk", bulk.Presences[alice])
	if want == presence.LevelHidden {
		// Indistinguishable from an offline user hiding last-seen.
		olga := strings.Replace(string(bulk.Presences["olga"]), `"olga"`, `"`+alice+`"`, 1)
		if cut(olga) != cut(exp) {
			t.Fatalf("%v: hidden %s differs from offline %s", c, exp, bulk.Presences["olga"])
		}
	}

	// A change alice makes reaches bob only if he can see it.
	if err := a.SetStatus(ctx5(t), map[string]any{"custom_status": "gone fishing"}); err != nil {
		t.Fatal(err)
	}
	if want != presence.LevelHidden {
		m := h.next(b)
		exp = h.viewJSON(alice, want)
		if m.Type != protocol.TypePresenceUpdate {
			t.Fatalf("%v: got %s, want an update", c, m.Raw)
		}
		check("presence_update", m.Presence)
	}
	mk := h.dial(marker, "web")
	if err := mk.SetStatus(ctx5(t), map[string]any{"status": "busy"}); err != nil {
		t.Fatal(err)
	}
	if p := h.update(b); p.UserID != marker {
		t.Fatalf("%v: bob got %+v before the marker", c, p)
	}
	for _, conn := range []*client.Conn{a, b, mk} {
		conn.Drop()
	}
}

// cut drops the version, the one field in which two hidden users may differ.
func cut(s string) string {
	if i := strings.LastIndex(s, `,"v":`); i >= 0 {
		return s[:i]
	}
	return s
}
