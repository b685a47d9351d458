// Package presence is the presence model of presenced: what a user's presence
// is, how a user's sessions fold into one status, and the state machine that
// moves it through time. It does no I/O and reads time only through the
// values it is given, so every rule is testable with a fake clock.
package presence

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Status is a user's availability.
type Status string

// The statuses clients see. StatusInvisible is only ever set, never shown to
// others: an invisible user is shown to everyone else as offline.
const (
	StatusOnline    Status = "online"
	StatusAway      Status = "away"
	StatusBusy      Status = "busy"
	StatusOffline   Status = "offline"
	StatusInvisible Status = "invisible"
)

// Activity says what a user is doing, independent of availability.
type Activity string

// The activities a user can report.
const (
	ActivityInCall     Activity = "in_call"
	ActivityInMeeting  Activity = "in_meeting"
	ActivityPresenting Activity = "presenting"
	ActivityFocus      Activity = "focus"
)

// ValidActivity reports whether a is one of the known activities.
func ValidActivity(a Activity) bool {
	switch a {
	case ActivityInCall, ActivityInMeeting, ActivityPresenting, ActivityFocus:
		return true
	}
	return false
}

// Device is one device's entry in a presence: devices with several live
// sessions (tabs) appear once, idle only when every session on it is idle.
type Device struct {
	Device string `json:"device"`
	Idle   bool   `json:"idle"`
}

// Presence is a user's presence as a viewer sees it. Its JSON form always
// carries every key (null when unset) so that what is hidden cannot be told
// from what is absent.
type Presence struct {
	UserID            string
	Status            Status
	Activity          Activity // "" when none
	ActivityExpiresAt int64    // unix seconds; 0 when none
	CustomStatus      string   // "" when none
	CustomEmoji       string   // "" when none
	CustomExpiresAt   int64    // unix seconds; 0 when none
	LastSeen          time.Time
	Device            string // most recently active device; "" when offline
	Devices           []Device
	Idle              bool
	Invisible         bool // set only in the user's own view
	V                 uint64
}

// Hidden returns what a viewer who may not see p is shown: the same as a
// user who is offline, has nothing set and hides their last-seen.
func Hidden(userID string, v uint64) Presence {
	return Presence{UserID: userID, Status: StatusOffline, V: v}
}

// WithoutLastSeen returns p with last-seen removed.
func (p Presence) WithoutLastSeen() Presence {
	p.LastSeen = time.Time{}
	return p
}

// Equal reports whether p and q would look the same to a viewer, ignoring
// the version and, while online, the last sign of life (which changes with
// every heartbeat and is never pushed on its own).
func (p Presence) Equal(q Presence) bool {
	if p.UserID != q.UserID || p.Status != q.Status || p.Activity != q.Activity ||
		p.ActivityExpiresAt != q.ActivityExpiresAt || p.CustomStatus != q.CustomStatus ||
		p.CustomEmoji != q.CustomEmoji || p.CustomExpiresAt != q.CustomExpiresAt ||
		p.Device != q.Device || p.Idle != q.Idle || p.Invisible != q.Invisible ||
		len(p.Devices) != len(q.Devices) {
		return false
	}
	for i := range p.Devices {
		if p.Devices[i] != q.Devices[i] {
			return false
		}
	}
	if p.Status == StatusOffline && !p.LastSeen.Equal(q.LastSeen) {
		return false
	}
	return true
}

// UnixSeconds returns t as fractional unix seconds with millisecond
// precision, the form last_seen takes on the wire.
func UnixSeconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

// AppendUnixSeconds appends UnixSeconds(t) as strconv.AppendFloat(…, 'f',
// -1, 64) does — the shortest decimal that reads back as the same float,
// which for a whole number of milliseconds is the seconds and up to three
// decimals — without the float formatting, a tenth of a bulk read's
// encoding.
func AppendUnixSeconds(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	if ms < 0 {
		return strconv.AppendFloat(b, UnixSeconds(t), 'f', -1, 64)
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	frac := ms % 1000
	if frac == 0 {
		return b
	}
	digits := [3]byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 3
	for digits[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, digits[:n]...)
}

// FromUnixSeconds is the inverse of UnixSeconds.
func FromUnixSeconds(s float64) time.Time {
	return time.UnixMilli(int64(math.Round(s * 1000)))
}

// AppendJSON appends p's JSON form to b. It is the hot path of fan-out (one
// encoding per update, shared by every subscriber), so it avoids reflection.
func (p *Presence) AppendJSON(b []byte) []byte {
	b = append(b, `{"user_id":`...)
	b = appendString(b, p.UserID)
	b = append(b, `,"status":`...)
	b = appendString(b, string(p.Status))
	b = append(b, `,"activity":`...)
	b = appendOptString(b, string(p.Activity))
	b = append(b, `,"activity_expires_at":`...)
	b = appendOptInt(b, p.ActivityExpiresAt)
	b = append(b, `,"custom_status":`...)
	b = appendOptString(b, p.CustomStatus)
	b = append(b, `,"custom_emoji":`...)
	b = appendOptString(b, p.CustomEmoji)
	b = append(b, `,"custom_status_expires_at":`...)
	b = appendOptInt(b, p.CustomExpiresAt)
	b = append(b, `,"last_seen":`...)
	if p.LastSeen.IsZero() {
		b = append(b, "null"...)
	} else {
		b = AppendUnixSeconds(b, p.LastSeen)
	}
	b = append(b, `,"device":`...)
	b = appendOptString(b, p.Device)
	b = append(b, `,"devices":[`...)
	for i, d := range p.Devices {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"device":`...)
		b = appendString(b, d.Device)
		b = append(b, `,"idle":`...)
		b = strconv.AppendBool(b, d.Idle)
		b = append(b, '}')
	}
	b = append(b, `],"idle":`...)
	b = strconv.AppendBool(b, p.Idle)
	if p.Invisible {
		b = append(b, `,"invisible":true`...)
	}
	b = append(b, `,"v":`...)
	b = strconv.AppendUint(b, p.V, 10)
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler.
func (p Presence) MarshalJSON() ([]byte, error) {
	return p.AppendJSON(make([]byte, 0, 256)), nil
}

type presenceJSON struct {
	UserID            string   `json:"user_id"`
	Status            Status   `json:"status"`
	Activity          *string  `json:"activity"`
	ActivityExpiresAt *int64   `json:"activity_expires_at"`
	CustomStatus      *string  `json:"custom_status"`
	CustomEmoji       *string  `json:"custom_emoji"`
	CustomExpiresAt   *int64   `json:"custom_status_expires_at"`
	LastSeen          *float64 `json:"last_seen"`
	Device            *string  `json:"device"`
	Devices           []Device `json:"devices"`
	Idle              bool     `json:"idle"`
	Invisible         bool     `json:"invisible"`
	V                 uint64   `json:"v"`
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Presence) UnmarshalJSON(data []byte) error {
	var j presenceJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*p = Presence{UserID: j.UserID, Status: j.Status, Devices: j.Devices, Idle: j.Idle, Invisible: j.Invisible, V: j.V}
	if j.Activity != nil {
		p.Activity = Activity(*j.Activity)
	}
	if j.ActivityExpiresAt != nil {
		p.ActivityExpiresAt = *j.ActivityExpiresAt
	}
	if j.CustomStatus != nil {
		p.CustomStatus = *j.CustomStatus
	}
	if j.CustomEmoji != nil {
		p.CustomEmoji = *j.CustomEmoji
	}
	if j.CustomExpiresAt != nil {
		p.CustomExpiresAt = *j.CustomExpiresAt
	}
	if j.LastSeen != nil {
		p.LastSeen = FromUnixSeconds(*j.LastSeen)
	}
	if j.Device != nil {
		p.Device = *j.Device
	}
	return nil
}

func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

func appendOptInt(b []byte, n int64) []byte {
	if n == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, n, 10)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Strings reaching it were validated
// as UTF-8 on the way in; invalid bytes are replaced all the same.
// plainASCII tells the ASCII bytes a JSON string carries as they are: one
// table load per byte instead of six comparisons, on the hottest loop of
// encoding.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendString appends s as a JSON string; exported for the transports that
// hand-encode their hot messages.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }
