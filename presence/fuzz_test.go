package presence

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// FuzzRecordCodec feeds the stores' record decoder arbitrary bytes. A record
// that decodes must re-encode to a record that decodes to the same state,
// and that encoding must be a fixed point: decoding and encoding it again
// gives the same bytes. (Inputs that are not canonical, such as a varint
// with padding bytes, decode too; what matters is that nothing is lost or
// changed once a record has been through the codec.) Both decoders must
// agree.
func FuzzRecordCodec(f *testing.F) {
	at := time.Unix(1798000000, 12345).UTC()
	seeds := []UserState{
		{},
		{Manual: StatusBusy, CustomStatus: "lunch", CustomEmoji: "🍔", LastSeen: at, Kicks: 3},
		{Sessions: []Session{{ID: "s1", Device: "web", Node: "n1", Idle: true, ActiveAt: at, ReportedAt: at, LastSeen: at, ExpiresAt: at, Rooms: []string{"doc:1", "doc:2"}}}},
		{Leaves: []RoomLeave{{Room: "doc:1", SessionID: "s1", Since: at}}, LeavesDue: at, Deadline: at},
	}
	for _, st := range seeds {
		b, _ := st.AppendBinary(nil)
		f.Add(b)
	}
	f.Add([]byte(`{"manual":"busy"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s1, viaString UserState
		err := s1.UnmarshalBinary(data)
		serr := viaString.UnmarshalString(string(data))
		if (err == nil) != (serr == nil) || (err == nil && !reflect.DeepEqual(s1, viaString)) {
			t.Fatalf("UnmarshalBinary = %+v, %v; UnmarshalString = %+v, %v", s1, err, viaString, serr)
		}
		if err != nil {
			return
		}
		b2, err := s1.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var s2 UserState
		if err := s2.UnmarshalBinary(b2); err != nil {
			t.Fatalf("a decoded record re-encodes to one that does not decode: %v\n%x", err, b2)
		}
		b3, _ := s2.AppendBinary(nil)
		if !bytes.Equal(b2, b3) {
			t.Fatalf("encoding is not a fixed point:\n%x\n%x", b2, b3)
		}
		if !sameState(s1, s2) {
			t.Fatalf("state changed through the codec:\n%+v\n%+v", s1, s2)
		}
	})
}

// sameState compares states field by field, times as instants and empty
// lists as absent (a JSON record may carry a zone or an empty list that the
// binary form does not).
func sameState(a, b UserState) bool { return sameValue(reflect.ValueOf(a), reflect.ValueOf(b)) }

func sameValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Struct:
		if at, ok := a.Interface().(time.Time); ok {
			return at.Equal(b.Interface().(time.Time))
		}
		for i := range a.NumField() {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	}
	return a.Interface() == b.Interface()
}
