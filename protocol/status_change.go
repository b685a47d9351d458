package protocol

import (
	"time"

	"github.com/presenced/presenced/presence"
)

// StatusChange reads the set_status fields of m (a set_status message, or
// the body of PUT /v1/presence/{user_id}/status, which has the same
// fields) as a change of the model. It lives with the wire message so
// that both transports read it the same way without importing each other.
func (m *ClientMessage) StatusChange() (presence.StatusChange, error) {
	var ch presence.StatusChange
	if m.Status != nil {
		s := presence.Status(*m.Status)
		ch.Status = &s
	}
	if m.Activity != nil {
		a := presence.Activity(*m.Activity)
		ch.Activity = &a
	}
	ch.CustomStatus, ch.CustomEmoji = m.CustomStatus, m.CustomEmoji
	var err error
	if ch.ExpiresAt, err = unixTime("expires_at", m.ExpiresAt); err != nil {
		return ch, err
	}
	if ch.ActivityExpiresAt, err = unixTime("activity_expires_at", m.ActivityExpiresAt); err != nil {
		return ch, err
	}
	if ch.CustomExpiresAt, err = unixTime("custom_status_expires_at", m.CustomStatusExpiresAt); err != nil {
		return ch, err
	}
	if ch.Status == nil && ch.Activity == nil && ch.CustomStatus == nil && ch.CustomEmoji == nil {
		return ch, presence.Errorf(presence.CodeInvalidArgument, "set_status needs at least one of status, activity, custom_status, custom_emoji")
	}
	return ch, nil
}

// maxUnix bounds expiry times to what JSON numbers and time.Time agree on.
const maxUnix = 1 << 40

// unixTime reads an expiry in unix seconds; 0 clears it.
func unixTime(field string, v *float64) (*time.Time, error) {
	if v == nil {
		return nil, nil
	}
	if *v == 0 {
		t := time.Time{}
		return &t, nil
	}
	if *v < 0 || *v > maxUnix {
		return nil, presence.Errorf(presence.CodeInvalidArgument, "%s must be unix seconds", field)
	}
	t := presence.FromUnixSeconds(*v)
	return &t, nil
}
