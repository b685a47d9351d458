package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"sync"
	"unicode/utf8"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// bulkRequest is the body of POST /v1/presence/bulk.
type bulkRequest struct {
	UserIDs idList `json:"user_ids"`
}

// idList is a JSON array of at most protocol.MaxIDsPerRequest user ids.
// Its entries are counted before any is decoded, so that a body of a
// million ids costs no more than one of a thousand.
type idList []string

func (l *idList) UnmarshalJSON(b []byte) error {
	// encoding/json has checked that b is one valid JSON value.
	if n := arrayLen(b); n > protocol.MaxIDsPerRequest {
		return presence.Errorf(presence.CodeLimitExceeded, "at most %d user_ids per request, got %d", protocol.MaxIDsPerRequest, n)
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// arrayLen counts the elements of b if it is a valid JSON array, and
// returns 0 for any other value.
func arrayLen(b []byte) int {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '[' {
		return 0
	}
	n, depth, inString, escaped, empty := 1, 0, false, false, true
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped = c == '\\'
			inString = c != '"'
		case c == '"':
			inString, empty = true, false
		case c == '[' || c == '{':
			depth++
			empty = empty && depth == 1
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 1:
			n++
		case c != ' ' && c != '\t' && c != '\r' && c != '\n':
			empty = false
		}
	}
	if empty {
		return 0
	}
	return n
}

// decodeBulk reads a bulk request.
func decodeBulk(r *http.Request, req *bulkRequest) error {
	return decode(r, req)
}

// decode reads a JSON body of at most MaxBodyBytes into v. The body must be
// valid UTF-8 (encoding/json would turn invalid bytes into U+FFFD, storing
// text the client never sent) and hold exactly one JSON value (trailing
// data is a client bug that would otherwise go unnoticed).
func decode(r *http.Request, v any) error {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			bodyBuffers.Put(buf)
		}
	}()
	buf.Reset()
	if n := r.ContentLength; n > 0 && n <= MaxBodyBytes {
		// One allocation of the right size, instead of doubling past it
		// (a 1 MiB body grew a 2 MiB buffer, too large to pool).
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return presence.Errorf(presence.CodeLimitExceeded, "body larger than %d bytes", MaxBodyBytes)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return presence.Errorf(presence.CodeBadJSON, "the body did not arrive within the server's read timeout")
	case err != nil:
		// The text would name the connection's addresses.
		return presence.Errorf(presence.CodeBadJSON, "the body could not be read")
	}
	return decodeJSON(buf.Bytes(), v)
}

var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody keeps a buffer grown past the largest body (a body sent
// without its length) out of the pool.
const maxPooledBody = MaxBodyBytes + 64<<10

// decodeJSON decodes body, which must be exactly one JSON value in valid
// UTF-8, into v with the API's errors.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return presence.Errorf(presence.CodeBadJSON, "empty body; expected a JSON object")
	}
	if !utf8.Valid(body) {
		return presence.Errorf(presence.CodeBadJSON, "body is not valid UTF-8")
	}
	// Unmarshal refuses anything after the value, where a Decoder would
	// stop reading; it also reads body in place, without a copy.
	if err := json.Unmarshal(body, v); err != nil {
		var perr *presence.Error
		if errors.As(err, &perr) {
			return perr
		}
		return presence.Errorf(presence.CodeBadJSON, "body is not valid JSON: %s", err.Error())
	}
	return nil
}
