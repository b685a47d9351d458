// Package webhook tells backends about presence by signed HTTP POSTs: the
// events a presence or room change produces, their signing by the Standard
// Webhooks 1.0 specification, and the engine that delivers them from an
// outbox to each configured URL with batching, retries and a maximum age.
//
// Events are derived from a change's state before and after (UserEvents,
// RoomEvents), so that whatever writes the change can write its events in
// the same step; the engine only reads them from an Outbox.
package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/presence"
)

// Type is an event type.
type Type string

// The event types.
const (
	UserOnline       Type = "user.online"
	UserOffline      Type = "user.offline"
	UserStatus       Type = "user.status"
	RoomOccupied     Type = "room.occupied"
	RoomVacated      Type = "room.vacated"
	RoomMemberJoined Type = "room.member_joined"
	RoomMemberLeft   Type = "room.member_left"
)

// Types lists every event type, in documentation order.
var Types = []Type{UserOnline, UserOffline, UserStatus, RoomOccupied, RoomVacated, RoomMemberJoined, RoomMemberLeft}

// DefaultTypes is what --webhook-events means when empty: every type but
// user.status, whose volume follows every status and activity change.
var DefaultTypes = []Type{UserOnline, UserOffline, RoomOccupied, RoomVacated, RoomMemberJoined, RoomMemberLeft}

// ParseTypes reads a comma list of event types; "" means DefaultTypes.
func ParseTypes(list string) ([]Type, error) {
	if strings.TrimSpace(list) == "" {
		return slices.Clone(DefaultTypes), nil
	}
	var out []Type
	for _, s := range strings.Split(list, ",") {
		t := Type(strings.TrimSpace(s))
		if !slices.Contains(Types, t) {
			return nil, fmt.Errorf("--webhook-events: unknown event type %q; known types: %s", t, TypeList(Types))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// TypeList spells types as a list that ParseTypes reads:
// "user.online, user.offline".
func TypeList(types []Type) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// Event is one event as receivers get it. ID is stable across retries and
// redeliveries: receivers deduplicate by it.
type Event struct {
	ID       string             `json:"id"`
	Type     Type               `json:"type"`
	TimeMS   int64              `json:"time_ms"`
	UserID   string             `json:"user_id,omitempty"`
	Room     string             `json:"room,omitempty"`
	Presence *presence.Presence `json:"presence,omitempty"`
	// Raw, when set, is the event's whole JSON form as AppendJSON wrote it
	// (its ID included): an outbox that keeps events as written hands them
	// back without decoding their presence, and they are sent byte for
	// byte as they were first formed.
	Raw []byte `json:"-"`
}

// AppendJSON appends the event's JSON form, as encoding/json would write
// it, to b: a message of a hundred events is encoded without reflection.
func (e *Event) AppendJSON(b []byte) []byte {
	if e.Raw != nil {
		return append(b, e.Raw...)
	}
	b = append(b, `{"id":`...)
	b = presence.AppendString(b, e.ID)
	b = append(b, `,"type":`...)
	b = presence.AppendString(b, string(e.Type))
	b = append(b, `,"time_ms":`...)
	b = strconv.AppendInt(b, e.TimeMS, 10)
	if e.UserID != "" {
		b = append(b, `,"user_id":`...)
		b = presence.AppendString(b, e.UserID)
	}
	if e.Room != "" {
		b = append(b, `,"room":`...)
		b = presence.AppendString(b, e.Room)
	}
	if e.Presence != nil {
		b = append(b, `,"presence":`...)
		b = e.Presence.AppendJSON(b)
	}
	return append(b, '}')
}

// DecodeStored reads what delivery needs of an event an outbox stored as
// AppendJSON wrote it; the rest stays in Raw, sent as it was written,
// without decoding its presence.
func DecodeStored(v []byte) (Event, error) {
	var head struct {
		ID     string `json:"id"`
		Type   Type   `json:"type"`
		TimeMS int64  `json:"time_ms"`
		UserID string `json:"user_id"`
		Room   string `json:"room"`
	}
	if err := json.Unmarshal(v, &head); err != nil {
		return Event{}, err
	}
	return Event{ID: head.ID, Type: head.Type, TimeMS: head.TimeMS, UserID: head.UserID, Room: head.Room, Raw: bytes.Clone(v)}, nil
}

// Time returns when the event happened.
func (e *Event) Time() time.Time { return time.UnixMilli(e.TimeMS) }

// shown reports whether p counts as online to a backend's events: an
// invisible user is offline to everyone else, the events included.
func shown(p *presence.Presence) bool {
	return p.Status != presence.StatusOffline && !p.Invisible
}

// UserEvents returns the events of one change of a user's presence from
// before to after (both the user's own, unfiltered view), at now. IDs are
// left empty for the outbox to assign. An invisible user produces no
// user.* event but the user.offline of turning invisible, as others see it.
func UserEvents(before, after *presence.Presence, now time.Time) []Event {
	was, is := shown(before), shown(after)
	var t Type
	switch {
	case !was && is:
		t = UserOnline
	case was && !is:
		t = UserOffline
	case is && statusChanged(before, after):
		t = UserStatus
	default:
		return nil
	}
	p := *after
	p.Devices = slices.Clone(after.Devices)
	return []Event{{Type: t, TimeMS: now.UnixMilli(), UserID: after.UserID, Presence: &p}}
}

// statusChanged reports whether what user.status announces differs:
// availability, activity or custom status, not devices or idleness.
func statusChanged(a, b *presence.Presence) bool {
	return a.Status != b.Status || a.Activity != b.Activity || a.ActivityExpiresAt != b.ActivityExpiresAt ||
		a.CustomStatus != b.CustomStatus || a.CustomEmoji != b.CustomEmoji || a.CustomExpiresAt != b.CustomExpiresAt
}

// RoomEvents returns the events of one room store change: a member's
// first connection joining or last one leaving, and the room filling or
// emptying with it. Invisible members count: the backend is trusted and
// membership is not presence.
func RoomEvents(room string, ch *presence.RoomChange, now time.Time) []Event {
	if !ch.Changed {
		return nil
	}
	ms := now.UnixMilli()
	switch {
	case ch.Before == nil && ch.After != nil:
		evs := make([]Event, 0, 2)
		if ch.Count == 1 {
			evs = append(evs, Event{Type: RoomOccupied, TimeMS: ms, Room: room})
		}
		return append(evs, Event{Type: RoomMemberJoined, TimeMS: ms, Room: room, UserID: ch.After.UserID})
	case ch.Before != nil && ch.After == nil:
		evs := []Event{{Type: RoomMemberLeft, TimeMS: ms, Room: room, UserID: ch.Before.UserID}}
		if ch.Count == 0 {
			evs = append(evs, Event{Type: RoomVacated, TimeMS: ms, Room: room})
		}
		return evs
	}
	return nil
}
