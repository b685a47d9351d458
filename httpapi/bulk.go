package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/presenced/presenced/presence"
)

// bulkRequest is the body of POST /v1/presence/bulk.
type bulkRequest struct {
	UserIDs []string `json:"user_ids"`
}

// decodeBulk reads a bulk request. The body of a bulk read is almost
// always {"user_ids":[…]} with plain ids, and encoding/json spent a fifth of
// a 1,000-user read on it; such a body is split by hand (scanIDs), and any
// other (escapes, other fields, errors) goes to encoding/json, which also
// words the errors.
func decodeBulk(r *http.Request, req *bulkRequest) error {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= MaxBodyBytes {
			buf.Reset()
			bodyBuffers.Put(buf)
		}
	}()
	buf.Reset()
	_, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return presence.Errorf(presence.CodeLimitExceeded, "body larger than %d bytes", MaxBodyBytes)
	case err != nil:
		return presence.Errorf(presence.CodeBadJSON, "body could not be read: %s", err.Error())
	}
	body := buf.Bytes()
	if ids, ok := scanIDs(body); ok {
		req.UserIDs = ids
		return nil
	}
	return decodeJSON(bytes.NewReader(body), req)
}

var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// scanIDs splits {"user_ids":["a","b",…]} (any JSON whitespace between
// tokens) whose ids need no unescaping. ok is false for anything else,
// which the caller hands to encoding/json.
func scanIDs(b []byte) (ids []string, ok bool) {
	s := scanner{b: b}
	if !s.lit(`{`) || !s.lit(`"user_ids"`) || !s.lit(`:`) || !s.lit(`[`) {
		return nil, false
	}
	ids = make([]string, 0, bytes.Count(b, []byte{','})+1)
	if s.lit(`]`) {
		return ids, s.lit(`}`) && s.end()
	}
	for {
		id, ok := s.plainString()
		if !ok {
			return nil, false
		}
		ids = append(ids, id)
		if s.lit(`]`) {
			return ids, s.lit(`}`) && s.end()
		}
		if !s.lit(`,`) {
			return nil, false
		}
	}
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// lit consumes tok after any whitespace.
func (s *scanner) lit(tok string) bool {
	s.space()
	if !bytes.HasPrefix(s.b[s.i:], []byte(tok)) {
		return false
	}
	s.i += len(tok)
	return true
}

func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// plainString consumes a string of printable ASCII without escapes.
func (s *scanner) plainString() (string, bool) {
	if !s.lit(`"`) {
		return "", false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			str := string(s.b[start:s.i])
			s.i++
			return str, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}

// decodeJSON decodes one JSON value from r into v with the API's errors.
func decodeJSON(r io.Reader, v any) error {
	err := json.NewDecoder(r).Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return presence.Errorf(presence.CodeLimitExceeded, "body larger than %d bytes", MaxBodyBytes)
	case errors.Is(err, io.EOF):
		return presence.Errorf(presence.CodeBadJSON, "empty body; expected a JSON object")
	default:
		return presence.Errorf(presence.CodeBadJSON, "body is not valid JSON: %s", err.Error())
	}
}
