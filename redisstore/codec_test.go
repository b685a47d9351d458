package redisstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// fill sets every field of v (a pointer) to a non-zero value, recursively,
// so that a field the codec forgets shows up as a difference.
func fill(t *testing.T, v reflect.Value, seed *int) {
	*seed++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + string(rune('a'+*seed%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Uint64, reflect.Uint32, reflect.Uint:
		v.SetUint(uint64(*seed))
	case reflect.Int64, reflect.Int:
		v.SetInt(int64(*seed))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), seed)
		}
		v.Set(s)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(1798000000+int64(*seed), int64(*seed)*1001).UTC()))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), seed)
		}
	default:
		t.Fatalf("fill: no rule for %s; teach the codec and this test the new field", v.Type())
	}
}

func TestCodecCarriesEveryField(t *testing.T) {
	var st presence.UserState
	seed := 0
	fill(t, reflect.ValueOf(&st).Elem(), &seed)
	var got presence.UserState
	if err := decodeState(encodeState(&st), &got); err != nil {
		t.Fatal(err)
	}
	// Not in the record: the id (in the key) and the versions (own fields).
	got.UserID, got.Version, got.HiddenV = st.UserID, st.Version, st.HiddenV
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip lost something:\n got %+v\nwant %+v", got, st)
	}
}

func TestCodecZeroAndJSON(t *testing.T) {
	var zero, got presence.UserState
	if err := decodeState(encodeState(&zero), &got); err != nil || !reflect.DeepEqual(got, zero) {
		t.Fatalf("zero state: %+v, %v", got, err)
	}
	got = presence.UserState{}
	if err := decodeState([]byte(`{"custom_status":"by hand"}`), &got); err != nil || got.CustomStatus != "by hand" {
		t.Fatalf("JSON record: %+v, %v", got, err)
	}
}

// TestCodecWritesLeavesOnlyWhenOwed checks that a record owing no room
// leaves keeps format 1, which nodes that know nothing of leaves read.
func TestCodecWritesLeavesOnlyWhenOwed(t *testing.T) {
	st := presence.UserState{CustomStatus: "hello"}
	plain := encodeState(&st)
	st.Leaves = []presence.RoomLeave{{Room: "doc", SessionID: "s1", Since: time.Unix(1798000000, 0).UTC()}}
	st.LeavesDue = time.Unix(1798000003, 0).UTC()
	owing := encodeState(&st)
	if plain[0] != formatV1 || owing[0] != formatV2 {
		t.Fatalf("formats %d and %d, want 1 without leaves and 2 with", plain[0], owing[0])
	}
	var got presence.UserState
	if err := decodeState(owing, &got); err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
}

func TestCodecRefusesCorruptRecords(t *testing.T) {
	st := presence.UserState{CustomStatus: "hello", Sessions: []presence.Session{{ID: "s1", Rooms: []string{"r"}}},
		Leaves: []presence.RoomLeave{{Room: "r", SessionID: "s0", Since: time.Unix(1798000000, 0)}}, LeavesDue: time.Unix(1798000003, 0)}
	b := encodeState(&st)
	for i := range b {
		var got presence.UserState
		if err := decodeState(b[:i], &got); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", i, len(b))
		}
	}
	var got presence.UserState
	if err := decodeState(append(b, 0), &got); err == nil {
		t.Fatal("trailing bytes accepted")
	}
	if err := decodeState(append(b, 1, 1), &got); err == nil {
		t.Fatal("bytes after the last optional field accepted")
	}
	if err := decodeState([]byte{9}, &got); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func BenchmarkDecode(b *testing.B) {
	now := time.Now()
	st := presence.UserState{Sessions: []presence.Session{{ID: "abcdefghijkl", Device: "web", Node: "n1", ActiveAt: now, LastSeen: now, ExpiresAt: now}}, LastSeen: now, Deadline: now}
	data := encodeState(&st)
	for range b.N {
		var got presence.UserState
		if err := decodeState(data, &got); err != nil {
			b.Fatal(err)
		}
	}
}
