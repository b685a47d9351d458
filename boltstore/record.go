package boltstore

import (
	"encoding/binary"
	"errors"

	"github.com/presenced/presenced/presence"
)

// A user record in the file, and in the read cache, is one header byte
// (recordBinary), the version and the hidden version (uvarints), then the
// state in presence's binary form (presence/codec.go; the user id is the
// key): 84 bytes for a user online on one device, where format 1 held 263
// bytes of JSON and the cache a decoded state of about 460.
//
// Files of format 1 hold JSON records (UserState's JSON form, starting with
// '{'). They are read as they are and rewritten in the binary layout when
// next written; opening such a file marks it format 2, which older builds
// refuse to open.
const recordBinary = 1

var errLayout = errors.New("unknown record layout")

// appendRecord appends st's record to b.
func appendRecord(b []byte, st *presence.UserState) []byte {
	b = append(b, recordBinary)
	b = binary.AppendUvarint(b, st.Version)
	b = binary.AppendUvarint(b, st.HiddenV)
	b, _ = st.AppendBinary(b)
	return b
}

// encodeRecord returns st's record as the cache keeps it.
func encodeRecord(st *presence.UserState) string {
	return string(appendRecord(make([]byte, 0, 96+len(st.Sessions)*64+len(st.CustomStatus)), st))
}

// decodeRecord reads a record of either layout into a fresh state that
// shares no memory with data (which may be the file's mapped pages).
func decodeRecord(id string, data []byte, st *presence.UserState) error {
	*st = presence.UserState{}
	if len(data) > 0 && data[0] != '{' { // a JSON record carries its versions
		n, err := readHeader(data, st)
		if err != nil {
			return err
		}
		data = data[n:]
	}
	err := st.UnmarshalBinary(data)
	st.UserID = id
	return err
}

// decodeCached reads a cached (binary) record into st, reusing nothing of
// st; the state's strings share rec's memory, so reading it allocates only
// its slices, and a string kept from it keeps the record alive.
func decodeCached(id, rec string, st *presence.UserState) error {
	*st = presence.UserState{}
	// The header is at most 21 bytes: read it from a copy on the stack.
	var head [1 + 2*binary.MaxVarintLen64]byte
	n, err := readHeader(head[:copy(head[:], rec)], st)
	if err != nil {
		return err
	}
	st.UserID = id
	return st.UnmarshalString(rec[n:])
}

// readHeader sets st's versions from the header of a binary record and
// returns its length.
func readHeader(data []byte, st *presence.UserState) (int, error) {
	if len(data) == 0 || data[0] != recordBinary {
		return 0, errLayout
	}
	v, n := binary.Uvarint(data[1:])
	if n <= 0 {
		return 0, errLayout
	}
	hv, m := binary.Uvarint(data[1+n:])
	if m <= 0 {
		return 0, errLayout
	}
	st.Version, st.HiddenV = v, hv
	return 1 + n + m, nil
}

// cacheForm returns the record as the cache keeps it: binary, a copy.
func cacheForm(id string, data []byte) (string, error) {
	if len(data) > 0 && data[0] == '{' {
		var st presence.UserState
		if err := decodeRecord(id, data, &st); err != nil {
			return "", err
		}
		return encodeRecord(&st), nil
	}
	return string(data), nil
}
