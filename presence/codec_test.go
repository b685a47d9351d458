package presence

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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

func encode(t testing.TB, st *UserState) []byte {
	b, err := st.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeBoth decodes data with UnmarshalBinary and UnmarshalString, which
// must agree.
func decodeBoth(t *testing.T, data []byte, st *UserState) error {
	t.Helper()
	viaString := *st
	err := st.UnmarshalBinary(data)
	serr := viaString.UnmarshalString(string(data))
	if (err == nil) != (serr == nil) || (err == nil && !reflect.DeepEqual(*st, viaString)) {
		t.Fatalf("UnmarshalBinary = %+v, %v; UnmarshalString = %+v, %v", *st, err, viaString, serr)
	}
	return err
}

func TestCodecCarriesEveryField(t *testing.T) {
	var st UserState
	seed := 0
	fill(t, reflect.ValueOf(&st).Elem(), &seed)
	// Not in the record: the id (the store's key) and the versions (kept
	// beside it), which decoding leaves as they are.
	got := UserState{UserID: st.UserID, Version: st.Version, HiddenV: st.HiddenV}
	if err := decodeBoth(t, encode(t, &st), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip lost something:\n got %+v\nwant %+v", got, st)
	}
}

// TestCodecKeepsItsBytes pins the format: Redis holds records written by
// earlier builds, and files hold records that older ones cannot be made to
// rewrite.
func TestCodecKeepsItsBytes(t *testing.T) {
	now := time.Unix(1798000000, 123).UTC()
	cases := []struct {
		st  UserState
		hex string
	}{
		{UserState{}, "010000000000000000000000"},
		{UserState{CustomStatus: "hello", Kicks: 3}, "010000000000000568656c6c6f0000000003"},
		{UserState{Sessions: []Session{{ID: "abc", Device: "web", ActiveAt: now, LastSeen: now, ExpiresAt: time.Unix(-5, 0).UTC()}}, LastSeen: now, Deadline: now},
			"010103616263037765620000f681b8a2a9dee3f33100f681b8a2a9dee3f331ffc7afa02500000000000000000000f681b8a2a9dee3f331f681b8a2a9dee3f331"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(encode(t, &c.st)); got != c.hex {
			t.Errorf("%+v encodes as\n%s, want\n%s", c.st, got, c.hex)
		}
		want, _ := hex.DecodeString(c.hex)
		var got UserState
		if err := decodeBoth(t, want, &got); err != nil || !reflect.DeepEqual(got, c.st) {
			t.Errorf("%s decodes as %+v, %v", c.hex, got, err)
		}
	}
}

// TestCodecLongFields round-trips lengths and counts of more than one byte.
func TestCodecLongFields(t *testing.T) {
	st := UserState{CustomStatus: strings.Repeat("é", 150), CustomEmoji: strings.Repeat("x", 127), Activity: Activity(strings.Repeat("y", 128))}
	for i := range 200 {
		st.Sessions = append(st.Sessions, Session{ID: strconv.Itoa(i), Rooms: []string{strings.Repeat("r", i)}})
	}
	var got UserState
	if err := decodeBoth(t, encode(t, &st), &got); err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
}

func TestCodecZeroAndJSON(t *testing.T) {
	var zero, got UserState
	if err := decodeBoth(t, encode(t, &zero), &got); err != nil || !reflect.DeepEqual(got, zero) {
		t.Fatalf("zero state: %+v, %v", got, err)
	}
	got = UserState{UserID: "alice", Version: 4, CustomStatus: "stale"}
	if err := decodeBoth(t, []byte(`{"custom_status":"by hand","hidden_v":2}`), &got); err != nil ||
		!reflect.DeepEqual(got, UserState{UserID: "alice", Version: 4, HiddenV: 2, CustomStatus: "by hand"}) {
		t.Fatalf("JSON record: %+v, %v", got, err)
	}
}

// TestCodecReplacesTheState checks that decoding into a used state leaves
// nothing of it but the fields the record does not carry.
func TestCodecReplacesTheState(t *testing.T) {
	var used UserState
	seed := 0
	fill(t, reflect.ValueOf(&used).Elem(), &seed)
	small := UserState{CustomStatus: "hello"}
	if err := decodeBoth(t, encode(t, &small), &used); err != nil {
		t.Fatal(err)
	}
	small.UserID, small.Version, small.HiddenV = used.UserID, used.Version, used.HiddenV
	if !reflect.DeepEqual(used, small) {
		t.Fatalf("decoded over a used state: %+v", used)
	}
}

// TestCodecWritesLeavesOnlyWhenOwed checks that a record owing no room
// leaves keeps format 1, which nodes that know nothing of leaves read.
func TestCodecWritesLeavesOnlyWhenOwed(t *testing.T) {
	st := UserState{CustomStatus: "hello"}
	plain := encode(t, &st)
	st.Leaves = []RoomLeave{{Room: "doc", SessionID: "s1", Since: time.Unix(1798000000, 0).UTC()}}
	st.LeavesDue = time.Unix(1798000003, 0).UTC()
	owing := encode(t, &st)
	if plain[0] != binaryV1 || owing[0] != binaryV2 {
		t.Fatalf("formats %d and %d, want 1 without leaves and 2 with", plain[0], owing[0])
	}
	var got UserState
	if err := decodeBoth(t, owing, &got); err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
}

func TestCodecRefusesCorruptRecords(t *testing.T) {
	st := UserState{CustomStatus: "hello", Sessions: []Session{{ID: "s1", Rooms: []string{"r"}}},
		Leaves: []RoomLeave{{Room: "r", SessionID: "s0", Since: time.Unix(1798000000, 0)}}, LeavesDue: time.Unix(1798000003, 0)}
	b := encode(t, &st)
	for i := range b {
		var got UserState
		if err := decodeBoth(t, b[:i], &got); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", i, len(b))
		}
	}
	bad := map[string][]byte{
		"trailing bytes":                      slices.Concat(b, []byte{0}),
		"bytes after the last optional field": slices.Concat(b, []byte{1, 1}),
		"unknown format":                      {9},
		"a length beyond the record":          {1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		"a count that overflows 64 bits":      {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
		"kicks beyond 32 bits":                append(encode(t, &UserState{}), 0x80, 0x80, 0x80, 0x80, 0x10),
		"a time that overflows 64 bits":       {1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"a JSON record that is not a state":   []byte(`{"sessions":3}`),
	}
	for what, data := range bad {
		var got UserState
		if err := decodeBoth(t, data, &got); err == nil {
			t.Errorf("%s accepted: %+v", what, got)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	now := time.Now()
	st := UserState{Sessions: []Session{{ID: "abcdefghijkl", Device: "web", Node: "n1", ActiveAt: now, LastSeen: now, ExpiresAt: now}}, LastSeen: now, Deadline: now}
	data := encode(b, &st)
	b.Run("bytes", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var got UserState
			if err := got.UnmarshalBinary(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("string", func(b *testing.B) {
		s := string(data)
		b.ReportAllocs()
		for range b.N {
			var got UserState
			if err := got.UnmarshalString(s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestUvarintMatchesEncodingBinary checks the decoder's varints against
// encoding/binary on every length and on random bytes.
func TestUvarintMatchesEncodingBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs [][]byte
	for shift := range 64 {
		for _, v := range []uint64{1 << shift, 1<<shift - 1, 1<<shift + 1, rng.Uint64() >> shift} {
			enc := binary.AppendUvarint(nil, v)
			inputs = append(inputs, enc, enc[:len(enc)-1])
		}
	}
	for range 20000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.Uint32())
			if rng.IntN(3) > 0 {
				b[i] |= 0x80
			}
		}
		inputs = append(inputs, b)
	}
	for _, in := range inputs {
		want, n := binary.Uvarint(in)
		for _, suffix := range [][]byte{nil, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}} {
			data := slices.Concat(in, suffix)
			d := decoder{b: string(data)}
			got := d.uvarint()
			if n <= 0 {
				if d.err == nil && len(suffix) == 0 {
					t.Fatalf("%x: decoded %d, encoding/binary refuses it", data, got)
				}
				continue
			}
			if d.err != nil || got != want || len(d.b) != len(data)-n {
				t.Fatalf("%x: got %d with %d bytes left (%v), want %d with %d", data, got, len(d.b), d.err, want, len(data)-n)
			}
		}
	}
}
