package presence

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func TestPresenceJSONShape(t *testing.T) {
	p := Presence{
		UserID: "alice", Status: StatusBusy, Activity: ActivityInCall,
		CustomStatus: "Back at 3", CustomEmoji: "🍔", CustomExpiresAt: 1798000000,
		LastSeen: time.UnixMilli(1797990000250), Device: "web",
		Devices: []Device{{"mobile", true}, {"web", false}}, V: 17,
	}
	var got map[string]any
	if err := json.Unmarshal(p.AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"user_id": "alice", "status": "busy", "activity": "in_call", "activity_expires_at": nil,
		"custom_status": "Back at 3", "custom_emoji": "🍔", "custom_status_expires_at": 1798000000.0,
		"last_seen": 1797990000.25, "device": "web",
		"devices": []any{map[string]any{"device": "mobile", "idle": true}, map[string]any{"device": "web", "idle": false}},
		"idle":    false, "v": 17.0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func TestHiddenHasEveryKey(t *testing.T) {
	h := Hidden("bob", 3)
	var got map[string]any
	if err := json.Unmarshal(h.AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	offline := Presence{UserID: "bob", Status: StatusOffline, V: 3}
	var want map[string]any
	_ = json.Unmarshal(offline.AppendJSON(nil), &want)
	if !reflect.DeepEqual(got, want) || len(got) != 12 {
		t.Fatalf("hidden %v\noffline %v", got, want)
	}
}

func TestPresenceJSONRoundTripAndEscaping(t *testing.T) {
	p := Presence{UserID: "a\"b\\c\n<x>\u2028é", Status: StatusOnline, CustomStatus: "tab\there",
		LastSeen: time.UnixMilli(1700000000123), Devices: []Device{}, V: 1}
	b := p.AppendJSON(nil)
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	var q Presence
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if q.UserID != p.UserID || q.CustomStatus != p.CustomStatus || !q.LastSeen.Equal(p.LastSeen) || q.V != 1 {
		t.Fatalf("round trip: %+v", q)
	}
}

func TestValidateUserID(t *testing.T) {
	long := make([]byte, MaxIDBytes+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", string(long), "a\x00b", "a\nb", "\xff"} {
		if ErrorCode(ValidateUserID(bad)) != CodeInvalidArgument {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"alice", "user:42", "Zoë", string(long[:MaxIDBytes])} {
		if err := ValidateUserID(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
}

func TestStatusChangeValidation(t *testing.T) {
	now := t0
	bad := Status("sleeping")
	act := Activity("napping")
	long := string(make([]rune, MaxCustomStatusRunes+1))
	past := now.Add(-time.Second)
	cases := []StatusChange{
		{Status: &bad}, {Activity: &act}, {CustomStatus: &long}, {ExpiresAt: &past},
	}
	for i, c := range cases {
		if ErrorCode(c.Validate(now)) != CodeInvalidArgument {
			t.Errorf("case %d accepted", i)
		}
	}
	okText := "🍔 lunch"
	if err := (&StatusChange{CustomStatus: &okText}).Validate(now); err != nil {
		t.Fatal(err)
	}
}

// TestAppendUnixSecondsMatchesFloatFormatting: last_seen and joined_at are
// written without float formatting; the text must stay exactly what
// strconv gives for the same value.
func TestAppendUnixSecondsMatchesFloatFormatting(t *testing.T) {
	ms := []int64{0, 1, 10, 100, 999, 1000, 1001, 1010, 1100, 1700000000000, 1700000000001, 1700000000120, 1795780800500, -1500, 253402300799999}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		ms = append(ms, r.Int64N(4102444800000))
	}
	for _, m := range ms {
		tm := time.UnixMilli(m)
		want := strconv.AppendFloat(nil, UnixSeconds(tm), 'f', -1, 64)
		if got := AppendUnixSeconds(nil, tm); string(got) != string(want) {
			t.Fatalf("%d ms: got %s, want %s", m, got, want)
		}
	}
}

// TestAppendStringMatchesEncodingJSON compares the hand-written string
// encoder with encoding/json, byte for byte, for every single byte and for
// runes that need care.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	var inputs []string
	for c := range 256 {
		inputs = append(inputs, "a"+string([]byte{byte(c)})+"b")
	}
	inputs = append(inputs, "é", "\u2028", "\u2029", "🍔", "\xed\xa0\x80", "plain text")
	for _, s := range inputs {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	}
}
