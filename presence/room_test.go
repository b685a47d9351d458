package presence

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestValidateRoom(t *testing.T) {
	for _, ok := range []string{"doc:42", "team:7", "a", "org/7:doc?#%", strings.Repeat("r", MaxRoomBytes), "!~"} {
		if err := ValidateRoom(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", " ", "a b", "doc:*", "café", "tab\t", "nul\x00", "\x7f", strings.Repeat("r", MaxRoomBytes+1)} {
		if err := ValidateRoom(bad); ErrorCode(err) != CodeInvalidArgument {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestRoomAllowed(t *testing.T) {
	patterns := []string{"doc:*", "team:7"}
	for room, want := range map[string]bool{
		"doc:1": true, "doc:": true, "team:7": true, "team:77": false, "doc": false, "other": false,
	} {
		if got := RoomAllowed(patterns, room); got != want {
			t.Errorf("%s: %v, want %v", room, got, want)
		}
	}
	if !RoomAllowed([]string{"*"}, "anything") || RoomAllowed(nil, "doc:1") || RoomAllowed([]string{}, "doc:1") {
		t.Fatal("* must allow all; no patterns must allow none")
	}
}

func TestCompactObject(t *testing.T) {
	got, err := CompactObject("meta", json.RawMessage(" { \"mode\" : \"viewing\" } "), 64)
	if err != nil || string(got) != `{"mode":"viewing"}` {
		t.Fatalf("compact = %s, %v", got, err)
	}
	for _, empty := range []string{"", "null"} {
		if got, err := CompactObject("meta", json.RawMessage(empty), 64); err != nil || string(got) != "{}" {
			t.Fatalf("%q = %s, %v", empty, got, err)
		}
	}
	for raw, code := range map[string]Code{`[1]`: CodeInvalidArgument, `"x"`: CodeInvalidArgument, `{`: CodeInvalidArgument,
		`{"k":"` + strings.Repeat("x", 64) + `"}`: CodeLimitExceeded} {
		if _, err := CompactObject("meta", json.RawMessage(raw), 64); ErrorCode(err) != code {
			t.Errorf("%.20s: err = %v, want %s", raw, err, code)
		}
	}
	// The bound applies to the compact form: padding does not count.
	padded := "{" + strings.Repeat(" ", 200) + `"k":1}`
	if _, err := CompactObject("meta", json.RawMessage(padded), 64); err != nil {
		t.Fatal(err)
	}
}

func TestRoomMemberJSON(t *testing.T) {
	m := &RoomMember{UserID: "alice", JoinedAt: time.UnixMilli(1798000000250), Connections: []RoomConn{
		{SessionID: "s1", Device: "web", Meta: json.RawMessage(`{"mode":"editing"}`)},
		{SessionID: "s2"},
	}}
	want := `{"user_id":"alice","joined_at":1798000000.25,"connections":[{"session_id":"s1","device":"web","meta":{"mode":"editing"}},{"session_id":"s2","device":null,"meta":{}}]}`
	if got := string(m.AppendJSON(nil)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	c := m.Clone()
	c.Connections[0].Device = "mobile"
	if m.Equal(c) || m.Connections[0].Device != "web" || !m.Equal(m.Clone()) {
		t.Fatal("Clone must copy the connections and Equal compare them")
	}
}
