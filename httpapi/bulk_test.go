package httpapi

import (
	"bytes"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/presenced/presenced/presence"
)

func decodeBody(t testing.TB, body string, v any) error {
	t.Helper()
	return decode(httptest.NewRequest("POST", "/v1/presence/bulk", strings.NewReader(body)), v)
}

// TestDecodeIsStrict: a body is one JSON value in valid UTF-8, nothing
// else.
func TestDecodeIsStrict(t *testing.T) {
	for body, code := range map[string]presence.Code{
		"{\"user_ids\":[\"al\xffice\"]}":       presence.CodeBadJSON, // invalid UTF-8 in a string
		"{\"custom_status\":\"\xc3\"}":         presence.CodeBadJSON,
		`{"user_ids":["a"]} trailing`:          presence.CodeBadJSON,
		`{"user_ids":["a"]}{"user_ids":["b"]}`: presence.CodeBadJSON,
		`{"user_ids":["a"]}]`:                  presence.CodeBadJSON,
		``:                                     presence.CodeBadJSON,
		" \n ":                                 presence.CodeBadJSON,
		`{"user_ids":["a",]}`:                  presence.CodeBadJSON,
		`{"user_ids":[1]}`:                     presence.CodeBadJSON,
		`{"user_ids":"a"}`:                     presence.CodeBadJSON,
		`{"user_ids":[` + strings.Repeat(`"a",`, 1000) + `"a"]}`: presence.CodeLimitExceeded,
	} {
		var req bulkRequest
		if err := decodeBody(t, body, &req); presence.ErrorCode(err) != code {
			t.Errorf("%.60q: err = %v, want %s", body, err, code)
		}
	}
	for body, want := range map[string][]string{
		`{"user_ids":["alice","bob"]}`:                          {"alice", "bob"},
		" {\n\t\"user_ids\" : [ \"a\" , \"b:1\" ] } \n":         {"a", "b:1"},
		`{"user_ids":["Zoë","a\"b"],"other":1}`:                 {"Zoë", `a"b`},
		`{"user_ids":[` + strings.Repeat(`"a",`, 999) + `"a"]}`: slicesRepeat("a", 1000),
	} {
		var req bulkRequest
		if err := decodeBody(t, body, &req); err != nil || !reflect.DeepEqual([]string(req.UserIDs), want) {
			t.Errorf("%.60q: %q, %v", body, req.UserIDs, err)
		}
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestBulkBodyCostIsBounded: a 1 MiB body of ids or commas costs about the
// body, not a slot (16 bytes) per id or comma.
func TestBulkBodyCostIsBounded(t *testing.T) {
	for name, body := range map[string]string{
		"ids":    `{"user_ids":[` + strings.Repeat(`"a",`, (MaxBodyBytes-32)/4) + `"a"]}`,
		"commas": `{"user_ids":[` + strings.Repeat(`,`, MaxBodyBytes-32) + `]}`,
	} {
		b := []byte(body)
		read := func() error {
			var req bulkRequest
			return decodeBulk(httptest.NewRequest("POST", "/", bytes.NewReader(b)), &req)
		}
		_ = read() // grows the pooled body buffer, as earlier requests would
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := read()
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		// At most a body buffer (pooled, but the race detector's pool drops
		// some) and 1,001 ids; a slot per comma was 16 MiB.
		if n := after.TotalAlloc - before.TotalAlloc; n > 3*MaxBodyBytes {
			t.Errorf("%s: %d bytes allocated for one refused body of %d", name, n, len(b))
		}
	}
}
