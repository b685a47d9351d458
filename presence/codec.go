package presence

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/bits"
	"strings"
	"time"
	"unsafe"
)

// A user's state is stored in a compact binary form by the durable stores:
// bulk reads decode a thousand records per call, JSON decoding cost ten
// times as much as a Redis round trip, and a decoded record held in memory
// costs four to five times its encoded bytes. The form starts with a format
// byte; a record starting with '{' is read as JSON, so records can be
// inspected and migrated by hand. codec_test.go fails when a field of
// UserState or Session is not carried, so the codec cannot silently drop
// one added later.
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
// record written before they existed reads as it did. A build that does not
// know a trailer refuses the record (it takes extra bytes for damage): a
// user's record is unreadable to such a build once it carries kicks.
//
// Format 2 is format 1 with the owed room leaves after deadline, before
// the optional trailers:
//
//	leaves(uvarint count, each: room sessionID since) leavesDue
//
// A record is written in format 2 only while it owes leaves (rarely, and
// briefly), so records stay as small as before. Neither form is readable
// by a build that knows only format 1 without trailers: upgrade every node
// before relying on mixed versions (docs/redis.md).
//
// The user id and the versions are not in it: stores keep the id as the
// record's key, and the versions beside the record (Redis in hash fields
// of their own that its update script sets, bbolt in a header).
const (
	binaryV1 = 1
	binaryV2 = 2
)

// errCorrupt is the error of every record that does not decode; the store
// names the user and the file or server.
var errCorrupt = errors.New("corrupt state record")

// AppendBinary appends the state's binary form (see above) to b. It never
// fails; the error is there for encoding.BinaryAppender.
func (s *UserState) AppendBinary(b []byte) ([]byte, error) {
	if len(s.Leaves) > 0 {
		b = append(b, binaryV2)
	} else {
		b = append(b, binaryV1)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Sessions)))
	for i := range s.Sessions {
		ss := &s.Sessions[i]
		b = binString(b, ss.ID)
		b = binString(b, ss.Device)
		b = binString(b, ss.Node)
		b = binBool(b, ss.Idle)
		b = binTime(b, ss.ActiveAt)
		b = binTime(b, ss.ReportedAt)
		b = binTime(b, ss.LastSeen)
		b = binTime(b, ss.ExpiresAt)
		b = binTime(b, ss.GraceUntil)
		b = binary.AppendUvarint(b, uint64(len(ss.Rooms)))
		for _, r := range ss.Rooms {
			b = binString(b, r)
		}
	}
	b = binString(b, string(s.Manual))
	b = binTime(b, s.ManualExpiresAt)
	b = binBool(b, s.Invisible)
	b = binString(b, string(s.Activity))
	b = binTime(b, s.ActivityExpiresAt)
	b = binString(b, s.CustomStatus)
	b = binString(b, s.CustomEmoji)
	b = binTime(b, s.CustomExpiresAt)
	b = binTime(b, s.LastSeen)
	b = binTime(b, s.Deadline)
	if len(s.Leaves) > 0 {
		b = binary.AppendUvarint(b, uint64(len(s.Leaves)))
		for _, l := range s.Leaves {
			b = binString(b, l.Room)
			b = binString(b, l.SessionID)
			b = binTime(b, l.Since)
		}
		b = binTime(b, s.LeavesDue)
	}
	if s.Kicks != 0 {
		b = binary.AppendUvarint(b, uint64(s.Kicks))
	}
	return b, nil
}

// UnmarshalBinary replaces the state with the one data encodes (binary, or
// JSON when it starts with '{'). UserID, Version and HiddenV keep their
// values unless a JSON record carries them. On error the state is
// undefined. The state shares no memory with data.
func (s *UserState) UnmarshalBinary(data []byte) error {
	if len(data) > 0 && data[0] == '{' {
		return s.unmarshalJSON(data)
	}
	// A view of data, not a copy: every string taken from it is cloned.
	return decodeBinary(s, unsafe.String(unsafe.SliceData(data), len(data)), true)
}

// UnmarshalString is UnmarshalBinary for a record held as a string: the
// state's strings share data's memory instead of being copied, so decoding
// a record kept in memory allocates only its slices. A string kept from the
// state keeps all of data alive.
func (s *UserState) UnmarshalString(data string) error {
	if len(data) > 0 && data[0] == '{' {
		return s.unmarshalJSON([]byte(data))
	}
	return decodeBinary(s, data, false)
}

func (s *UserState) unmarshalJSON(data []byte) error {
	fresh := UserState{UserID: s.UserID, Version: s.Version, HiddenV: s.HiddenV}
	if err := json.Unmarshal(data, &fresh); err != nil {
		return err
	}
	*s = fresh
	return nil
}

func decodeBinary(s *UserState, data string, clone bool) error {
	*s = UserState{UserID: s.UserID, Version: s.Version, HiddenV: s.HiddenV}
	d := decoder{b: data, clone: clone}
	format := d.byte()
	if format != binaryV1 && format != binaryV2 {
		return errors.New("unknown state record format")
	}
	s.Sessions = readList(&d, func(ss *Session) {
		ss.ID, ss.Device, ss.Node = d.string(), d.string(), d.string()
		ss.Idle = d.bool()
		ss.ActiveAt, ss.ReportedAt, ss.LastSeen, ss.ExpiresAt, ss.GraceUntil = d.time(), d.time(), d.time(), d.time(), d.time()
		ss.Rooms = readList(&d, func(r *string) { *r = d.string() })
	})
	s.Manual = Status(d.string())
	s.ManualExpiresAt = d.time()
	s.Invisible = d.bool()
	s.Activity = Activity(d.string())
	s.ActivityExpiresAt = d.time()
	s.CustomStatus, s.CustomEmoji = d.string(), d.string()
	s.CustomExpiresAt, s.LastSeen, s.Deadline = d.time(), d.time(), d.time()
	if format == binaryV2 {
		s.Leaves = readList(&d, func(l *RoomLeave) {
			l.Room, l.SessionID, l.Since = d.string(), d.string(), d.time()
		})
		s.LeavesDue = d.time()
		if len(s.Leaves) == 0 {
			// Written only while leaves are owed: an empty list here is
			// not a record of ours (and its LeavesDue would be lost).
			d.err = errCorrupt
		}
	}
	if len(d.b) > 0 {
		// Written only when not zero: a zero here is not a record of ours.
		if k := d.uvarint(); k > 0 && k <= math.MaxUint32 {
			s.Kicks = uint32(k)
		} else {
			d.err = errCorrupt
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return errCorrupt
	}
	return nil
}

func binString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func binBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func binTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads formats 1 and 2; the first error sticks and zero values
// follow. With clone, the strings it returns are copies; without, they
// share b's memory.
type decoder struct {
	b     string
	clone bool
	err   error
}

func (d *decoder) fail() {
	d.err = errCorrupt
	d.b = d.b[:0]
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// uvarint reads what encoding/binary's Uvarint reads, refusing the same
// values that overflow 64 bits. Most values are one byte; times are nine,
// read eight at a time.
func (d *decoder) uvarint() uint64 {
	if len(d.b) > 0 && d.b[0] < 0x80 {
		c := d.b[0]
		d.b = d.b[1:]
		return uint64(c)
	}
	return d.longUvarint()
}

func (d *decoder) longUvarint() uint64 {
	b := d.b
	if len(b) >= 9 {
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if stop := ^w & 0x8080808080808080; stop != 0 {
			n := bits.TrailingZeros64(stop)/8 + 1
			d.b = b[n:]
			return gather7(w & (1<<(8*n) - 1))
		}
		if c := b[8]; c < 0x80 {
			d.b = b[9:]
			return gather7(w) | uint64(c)<<56
		}
	}
	var v uint64
	for i := range min(len(b), 10) {
		c := b[i]
		if c < 0x80 {
			if i == 9 && c > 1 {
				break
			}
			d.b = b[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	d.fail()
	return 0
}

// gather7 packs the low seven bits of each byte of w, lowest byte first.
func gather7(w uint64) uint64 {
	w &= 0x7f7f7f7f7f7f7f7f
	w = w&0x007f007f007f007f | w&0x7f007f007f007f00>>1
	w = w&0x00003fff00003fff | w&0x3fff00003fff0000>>2
	return w&0x000000000fffffff | w&0x0fffffff00000000>>4
}

// count reads a length that must fit in what is left of the record.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	var s string
	if len(d.b) > 0 && d.b[0] < 0x80 && int(d.b[0]) < len(d.b) { // short: no call
		s, d.b = d.b[1:1+d.b[0]], d.b[1+d.b[0]:]
	} else {
		n := d.count()
		s, d.b = d.b[:n], d.b[n:]
	}
	if d.clone {
		return strings.Clone(s)
	}
	return s
}

// readList reads a counted list, each element with read; nil when empty.
func readList[E any](d *decoder, read func(*E)) []E {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]E, n)
	for i := range out {
		read(&out[i])
	}
	return out
}

func (d *decoder) bool() bool { return d.byte() == 1 }

func (d *decoder) time() time.Time {
	if len(d.b) > 0 && d.b[0] == 0 { // the zero time
		d.b = d.b[1:]
		return time.Time{}
	}
	u := d.longUvarint()
	if d.err != nil {
		return time.Time{}
	}
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}
