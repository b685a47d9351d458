//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// The load tool reads tens of thousands of server messages per second on a
// machine it shares with the server, so it does not decode them with
// encoding/json: presenced writes its hot messages in a fixed key order
// (type first, then id) and the fields the tool needs are found by key.
// Anything unexpected falls back to encoding/json.

// update is what the tool needs from a presence_update.
type update struct {
	user, status, custom string
	lastSeenMS           int64 // 0 when null
	v                    uint64
}

// header returns a server message's type and request id ("" when none).
func header(b []byte) (typ, id string) {
	const pre = `{"type":"`
	if bytes.HasPrefix(b, []byte(pre)) {
		rest := b[len(pre):]
		if end := bytes.IndexByte(rest, '"'); end > 0 {
			typ, rest = string(rest[:end]), rest[end+1:]
			if r, ok := bytes.CutPrefix(rest, []byte(`,"id":`)); ok {
				if end := bytes.IndexAny(r, ",}"); end > 0 {
					id = string(r[:end])
				}
			}
			return typ, id
		}
	}
	var m struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
	}
	_ = json.Unmarshal(b, &m)
	return m.Type, string(m.ID)
}

var updatePrefix = []byte(`{"type":"presence_update","presence":`)

// scanUpdate reads a presence_update.
func scanUpdate(b []byte) (update, bool) {
	p, ok := bytes.CutPrefix(b, updatePrefix)
	if !ok {
		return update{}, false
	}
	return scanPresence(p)
}

// scanPresence reads the fields the tool needs from one presence object.
func scanPresence(p []byte) (update, bool) {
	var u update
	var ok bool
	if u.user, ok = stringField(p, `"user_id":`); !ok {
		return u, false
	}
	if u.status, ok = stringField(p, `"status":`); !ok {
		return u, false
	}
	u.custom, _ = stringField(p, `"custom_status":`)
	if raw := rawField(p, `"last_seen":`); len(raw) > 0 && raw[0] != 'n' {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return u, false
		}
		u.lastSeenMS = int64(math.Round(f * 1000))
	}
	if raw := rawField(p, `"v":`); len(raw) > 0 {
		v, err := strconv.ParseUint(string(raw), 10, 64)
		if err != nil {
			return u, false
		}
		u.v = v
	}
	return u, true
}

// rawField returns the scalar value after key, up to the next ',' or '}'.
// Keys are matched with their opening quote, so "status": never matches
// inside "custom_status":, and a key cannot occur inside a string value,
// where quotes are escaped.
func rawField(b []byte, key string) []byte {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil
	}
	r := b[i+len(key):]
	end := bytes.IndexAny(r, ",}")
	if end < 0 {
		return nil
	}
	return r[:end]
}

// stringField returns the string value after key; null reads as "".
func stringField(b []byte, key string) (string, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return "", false
	}
	r := b[i+len(key):]
	if bytes.HasPrefix(r, []byte("null")) {
		return "", true
	}
	if len(r) == 0 || r[0] != '"' {
		return "", false
	}
	end := bytes.IndexByte(r[1:], '"')
	if end < 0 {
		return "", false
	}
	s := r[1 : end+1]
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s), true
	}
	// Escapes: find the real end and let encoding/json unescape.
	dec := json.NewDecoder(bytes.NewReader(r))
	var out string
	if err := dec.Decode(&out); err != nil {
		return "", false
	}
	return out, true
}

// scanSnapshot reads every presence of an initial_presence or presence
// reply. Snapshots are rare (one per subscribe), so encoding/json is fine.
func scanSnapshot(b []byte) (map[string]update, bool) {
	var m struct {
		Presences map[string]json.RawMessage `json:"presences"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, false
	}
	out := make(map[string]update, len(m.Presences))
	for id, raw := range m.Presences {
		u, ok := scanPresence(raw)
		if !ok {
			return nil, false
		}
		out[id] = u
	}
	return out, true
}
