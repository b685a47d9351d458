package privacy

import (
	"context"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// Invisibility is where a user's invisible flag lives: the presence record,
// kept by the hub. Both transports pass their hub, so that neither imports
// the other to share the privacy endpoints' logic.
type Invisibility interface {
	SetInvisible(ctx context.Context, userID string, invisible bool) error
	State(ctx context.Context, userID string) (presence.UserState, error)
}

// ApplyMessage applies the privacy fields of msg (set_privacy, or the body
// of PUT /v1/users/{id}/privacy) to userID. Every field is checked before
// anything changes; absent fields stay as they are.
func (s *Service) ApplyMessage(ctx context.Context, inv Invisibility, userID string, msg *protocol.ClientMessage) error {
	if err := presence.ValidateUserID(userID); err != nil {
		return err
	}
	var ch Change
	if msg.Visibility != nil {
		v, err := ParseVisibility("visibility", *msg.Visibility)
		if err != nil {
			return err
		}
		ch.Visibility = &v
	}
	if msg.LastSeenVisibility != nil {
		v, err := ParseVisibility("last_seen_visibility", *msg.LastSeenVisibility)
		if err != nil {
			return err
		}
		ch.LastSeenVisibility = &v
	}
	if ch.Visibility != nil || ch.LastSeenVisibility != nil {
		if _, err := s.Set(ctx, userID, ch); err != nil {
			return err
		}
	}
	if msg.Invisible != nil {
		return inv.SetInvisible(ctx, userID, *msg.Invisible)
	}
	return nil
}

// InEffect returns userID's settings in effect (defaults applied), as the
// privacy reply and the HTTP privacy body show them.
func (s *Service) InEffect(ctx context.Context, inv Invisibility, userID string) (protocol.Privacy, error) {
	set, err := s.Settings(ctx, userID)
	if err != nil {
		return protocol.Privacy{}, err
	}
	st, err := inv.State(ctx, userID)
	if err != nil {
		return protocol.Privacy{}, err
	}
	vis, ls := s.Rules.Effective(&set)
	return protocol.Privacy{Visibility: string(vis), LastSeenVisibility: string(ls), Invisible: st.Invisible}, nil
}
