package httpapi

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"testing"
)

// BenchmarkDecodeBulk decodes the body of a 1,000-user bulk read, the
// largest the API accepts (its whole read has a p99 target of 5 ms).
func BenchmarkDecodeBulk(b *testing.B) {
	var body bytes.Buffer
	body.WriteString(`{"user_ids":[`)
	for i := range 1000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `"user-%06d"`, i)
	}
	body.WriteString(`]}`)
	b.ReportAllocs()
	b.SetBytes(int64(body.Len()))
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/presence/bulk", bytes.NewReader(body.Bytes()))
		var req bulkRequest
		if err := decodeBulk(r, &req); err != nil || len(req.UserIDs) != 1000 {
			b.Fatal(err, len(req.UserIDs))
		}
	}
}
