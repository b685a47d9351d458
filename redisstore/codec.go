package redisstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/presenced/presenced/presence"
)

// A user's state is stored in a compact binary form: bulk reads decode a
// thousand records per call, and JSON decoding cost ten times as much as
// the round trip. The form starts with a format byte; a record starting
// with '{' is read as JSON, so records can be inspected and migrated by
// hand. codec_test.go fails when a field of UserState or Session is not
// carried, so the codec cannot silently drop one added later.
//
// Format 1, in order (strings: uvarint length and bytes; times: varint
// unix nanoseconds, 0 for the zero time; bools: one byte):
//
//	1 sessions(uvarint count, each: id device node idle activeAt reportedAt
//	  lastSeen expiresAt graceUntil rooms(uvarint count, strings))
//	manual manualExpiresAt invisible activity activityExpiresAt
//	customStatus customEmoji customExpiresAt lastSeen deadline
//	[kicks(uvarint)]
//
// Bracketed fields are optional trailers, written only when not zero, so a
// record written before they existed reads as it did.
//
// Format 2 is format 1 with the owed room leaves after deadline, before
// the optional trailers:
//
//	leaves(uvarint count, each: room sessionID since) leavesDue
//
// A record is written in format 2 only while it owes leaves (rarely, and
// briefly), so records stay as small as before and readable by a node
// that knows only format 1, except for those moments.
//
// The user id and the versions are not in it: the id is in the key, and
// the versions are hash fields of their own, set by the update script.
const (
	formatV1 = 1
	formatV2 = 2
)

func encodeState(st *presence.UserState) []byte {
	b := make([]byte, 0, 64+len(st.Sessions)*64+len(st.CustomStatus)+len(st.Leaves)*48)
	if len(st.Leaves) > 0 {
		b = append(b, formatV2)
	} else {
		b = append(b, formatV1)
	}
	b = binary.AppendUvarint(b, uint64(len(st.Sessions)))
	for i := range st.Sessions {
		s := &st.Sessions[i]
		b = appendString(b, s.ID)
		b = appendString(b, s.Device)
		b = appendString(b, s.Node)
		b = appendBool(b, s.Idle)
		b = appendTime(b, s.ActiveAt)
		b = appendTime(b, s.ReportedAt)
		b = appendTime(b, s.LastSeen)
		b = appendTime(b, s.ExpiresAt)
		b = appendTime(b, s.GraceUntil)
		b = binary.AppendUvarint(b, uint64(len(s.Rooms)))
		for _, r := range s.Rooms {
			b = appendString(b, r)
		}
	}
	b = appendString(b, string(st.Manual))
	b = appendTime(b, st.ManualExpiresAt)
	b = appendBool(b, st.Invisible)
	b = appendString(b, string(st.Activity))
	b = appendTime(b, st.ActivityExpiresAt)
	b = appendString(b, st.CustomStatus)
	b = appendString(b, st.CustomEmoji)
	b = appendTime(b, st.CustomExpiresAt)
	b = appendTime(b, st.LastSeen)
	b = appendTime(b, st.Deadline)
	if len(st.Leaves) > 0 {
		b = binary.AppendUvarint(b, uint64(len(st.Leaves)))
		for _, l := range st.Leaves {
			b = appendString(b, l.Room)
			b = appendString(b, l.SessionID)
			b = appendTime(b, l.Since)
		}
		b = appendTime(b, st.LeavesDue)
	}
	if st.Kicks != 0 {
		b = binary.AppendUvarint(b, uint64(st.Kicks))
	}
	return b
}

var errCorrupt = errors.New("corrupt record")

func decodeState(data []byte, st *presence.UserState) error {
	if len(data) > 0 && data[0] == '{' {
		return json.Unmarshal(data, st)
	}
	d := decoder{b: data}
	format := d.byte()
	if format != formatV1 && format != formatV2 {
		return errors.New("unknown record format")
	}
	st.Sessions = readList(&d, func(s *presence.Session) {
		s.ID, s.Device, s.Node = d.string(), d.string(), d.string()
		s.Idle = d.bool()
		s.ActiveAt, s.ReportedAt, s.LastSeen, s.ExpiresAt, s.GraceUntil = d.time(), d.time(), d.time(), d.time(), d.time()
		s.Rooms = readList(&d, func(r *string) { *r = d.string() })
	})
	st.Manual = presence.Status(d.string())
	st.ManualExpiresAt = d.time()
	st.Invisible = d.bool()
	st.Activity = presence.Activity(d.string())
	st.ActivityExpiresAt = d.time()
	st.CustomStatus, st.CustomEmoji = d.string(), d.string()
	st.CustomExpiresAt, st.LastSeen, st.Deadline = d.time(), d.time(), d.time()
	if format == formatV2 {
		st.Leaves = readList(&d, func(l *presence.RoomLeave) {
			l.Room, l.SessionID, l.Since = d.string(), d.string(), d.time()
		})
		st.LeavesDue = d.time()
	}
	if len(d.b) > 0 {
		// Written only when not zero: a zero here is not a record of ours.
		if k := d.uvarint(); k > 0 && k <= math.MaxUint32 {
			st.Kicks = uint32(k)
		} else {
			d.err = errCorrupt
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return errCorrupt
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads formats 1 and 2; the first error sticks and zero values follow.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must fit in what is left of the record.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		d.b = nil
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count()
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// readList reads a counted list, each element with read; nil when empty.
func readList[T any](d *decoder, read func(*T)) []T {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		read(&out[i])
	}
	return out
}

func (d *decoder) bool() bool { return d.byte() == 1 }

func (d *decoder) time() time.Time {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		d.b = nil
		return time.Time{}
	}
	d.b = d.b[n:]
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}
