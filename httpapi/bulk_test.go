package httpapi

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestScanIDsAgreesWithEncodingJSON: the hand-split fast path either gives
// what encoding/json gives or declines.
func TestScanIDsAgreesWithEncodingJSON(t *testing.T) {
	accepted := []string{
		`{"user_ids":["alice","bob"]}`,
		" {\n\t\"user_ids\" : [ \"a\" , \"b:1\" ] } \n",
		`{"user_ids":[]}`,
		`{"user_ids":[""]}`,
	}
	declined := []string{
		`{"user_ids":["a\"b"]}`, // escape
		`{"user_ids":["Zoë"]}`,  // non-ASCII
		`{"ids":["a"],"user_ids":["b"]}`,
		`{"user_ids":["a"],"x":1}`, // another field
		`{"user_ids":["a",]}`,
		`{"user_ids":["a"]} trailing`,
		`{"user_ids":["a"`,
		`{"user_ids":null}`,
		`{"user_ids":[1]}`,
		`[]`,
		``,
	}
	for _, body := range accepted {
		ids, ok := scanIDs([]byte(body))
		var want bulkRequest
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatalf("%q: test body is not JSON: %v", body, err)
		}
		if !ok || !reflect.DeepEqual(ids, want.UserIDs) {
			t.Fatalf("%q: scanned %q (%v), encoding/json %q", body, ids, ok, want.UserIDs)
		}
	}
	for _, body := range declined {
		if ids, ok := scanIDs([]byte(body)); ok {
			t.Fatalf("%q: scanned %q; must go to encoding/json", body, ids)
		}
	}
}
