package presence

import (
	"time"
	"unicode/utf8"
)

// Limits on what a user may set.
const (
	MaxCustomStatusRunes = 128
	MaxCustomEmojiRunes  = 32
	MaxDeviceBytes       = 64
)

// StatusChange is a set_status request. A nil field is left unchanged; an
// empty string clears it. ExpiresAt applies to every field the same request
// sets (status override, activity, custom status); a field-specific expiry
// wins over it.
type StatusChange struct {
	Status            *Status
	Activity          *Activity
	CustomStatus      *string
	CustomEmoji       *string
	ExpiresAt         *time.Time
	ActivityExpiresAt *time.Time
	CustomExpiresAt   *time.Time
}

// Validate checks the change against the model's rules.
func (c *StatusChange) Validate(now time.Time) error {
	if c.Status != nil {
		switch *c.Status {
		case StatusOnline, StatusAway, StatusBusy, StatusInvisible:
		default:
			return Errorf(CodeInvalidArgument, "status %q is not one of online, away, busy, invisible", string(*c.Status))
		}
	}
	if c.Activity != nil && *c.Activity != "" && !ValidActivity(*c.Activity) {
		return Errorf(CodeInvalidArgument, "activity %q is not one of in_call, in_meeting, presenting, focus (or empty to clear)", string(*c.Activity))
	}
	if c.CustomStatus != nil {
		if err := checkText("custom_status", *c.CustomStatus, MaxCustomStatusRunes); err != nil {
			return err
		}
	}
	if c.CustomEmoji != nil {
		if err := checkText("custom_emoji", *c.CustomEmoji, MaxCustomEmojiRunes); err != nil {
			return err
		}
	}
	for name, t := range map[string]*time.Time{"expires_at": c.ExpiresAt, "activity_expires_at": c.ActivityExpiresAt, "custom_status_expires_at": c.CustomExpiresAt} {
		if t != nil && !t.IsZero() && !t.After(now) {
			return Errorf(CodeInvalidArgument, "%s must be in the future", name)
		}
	}
	return nil
}

func checkText(field, s string, maxRunes int) error {
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalidArgument, "%s must be valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return Errorf(CodeInvalidArgument, "%s is %d characters, at most %d allowed", field, n, maxRunes)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return Errorf(CodeInvalidArgument, "%s must not contain control characters", field)
		}
	}
	return nil
}

// Apply records a validated change.
func (s *UserState) Apply(c StatusChange) {
	expiry := func(specific *time.Time) time.Time {
		switch {
		case specific != nil:
			return *specific
		case c.ExpiresAt != nil:
			return *c.ExpiresAt
		}
		return time.Time{}
	}
	if c.Status != nil {
		switch *c.Status {
		case StatusInvisible:
			s.Invisible = true
		case StatusOnline:
			s.Invisible = false
			s.Manual, s.ManualExpiresAt = "", time.Time{}
		default:
			s.Invisible = false
			s.Manual, s.ManualExpiresAt = *c.Status, expiry(nil)
		}
	}
	if c.Activity != nil {
		s.Activity, s.ActivityExpiresAt = *c.Activity, expiry(c.ActivityExpiresAt)
		if s.Activity == "" {
			s.ActivityExpiresAt = time.Time{}
		}
	}
	if c.CustomStatus != nil || c.CustomEmoji != nil {
		if c.CustomStatus != nil {
			s.CustomStatus = *c.CustomStatus
		}
		if c.CustomEmoji != nil {
			s.CustomEmoji = *c.CustomEmoji
		}
		s.CustomExpiresAt = expiry(c.CustomExpiresAt)
		if s.CustomStatus == "" && s.CustomEmoji == "" {
			s.CustomExpiresAt = time.Time{}
		}
	}
}
