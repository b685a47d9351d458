package gateway

import (
	"context"
	"encoding/json"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
	"github.com/presenced/presenced/protocol"
)

// privacyMessage handles set_privacy, get_privacy, block and unblock.
// Users manage their own settings and blocks; contacts belong to the
// application's backend and are set over the HTTP API.
func (c *conn) privacyMessage(ctx context.Context, msg *protocol.ClientMessage) error {
	sv := c.g.cfg.Privacy
	if sv == nil {
		return presence.Errorf(presence.CodeUnavailable, "privacy settings are not enabled on this server")
	}
	me := c.client.UserID
	switch msg.Type {
	case protocol.TypeSetPrivacy:
		if err := SetPrivacy(ctx, c.g.hub, sv, me, msg); err != nil {
			return err
		}
		fallthrough
	case protocol.TypeGetPrivacy:
		p, err := PrivacyOf(ctx, c.g.hub, sv, me)
		if err != nil {
			return err
		}
		p.Type, p.ID = protocol.TypePrivacy, msg.ID
		b, _ := json.Marshal(p)
		c.client.Send(b)
		return nil
	case protocol.TypeBlock, protocol.TypeUnblock:
		if msg.UserID == "" {
			return presence.Errorf(presence.CodeInvalidArgument, "%s needs \"user_id\"", msg.Type)
		}
		op := privacy.Add
		if msg.Type == protocol.TypeUnblock {
			op = privacy.Remove
		}
		if _, err := sv.Edit(ctx, me, privacy.BlocksList, op, []string{msg.UserID}); err != nil {
			return err
		}
	}
	if len(msg.ID) > 0 {
		c.reply(protocol.TypeAck, msg.ID)
	}
	return nil
}

// SetPrivacy applies the privacy fields of msg (set_privacy, or the body
// of PUT /v1/users/{id}/privacy) to userID. Every field is checked before
// anything changes; absent fields stay as they are.
func SetPrivacy(ctx context.Context, h *hub.Hub, sv *privacy.Service, userID string, msg *protocol.ClientMessage) error {
	if err := presence.ValidateUserID(userID); err != nil {
		return err
	}
	var ch privacy.Change
	if msg.Visibility != nil {
		v, err := privacy.ParseVisibility("visibility", *msg.Visibility)
		if err != nil {
			return err
		}
		ch.Visibility = &v
	}
	if msg.LastSeenVisibility != nil {
		v, err := privacy.ParseVisibility("last_seen_visibility", *msg.LastSeenVisibility)
		if err != nil {
			return err
		}
		ch.LastSeenVisibility = &v
	}
	if ch.Visibility != nil || ch.LastSeenVisibility != nil {
		if _, err := sv.Set(ctx, userID, ch); err != nil {
			return err
		}
	}
	if msg.Invisible != nil {
		return h.SetInvisible(ctx, userID, *msg.Invisible)
	}
	return nil
}

// PrivacyOf returns userID's settings in effect (defaults applied).
func PrivacyOf(ctx context.Context, h *hub.Hub, sv *privacy.Service, userID string) (protocol.Privacy, error) {
	s, err := sv.Settings(ctx, userID)
	if err != nil {
		return protocol.Privacy{}, err
	}
	st, err := h.State(ctx, userID)
	if err != nil {
		return protocol.Privacy{}, err
	}
	vis, ls := sv.Rules.Effective(&s)
	return protocol.Privacy{Visibility: string(vis), LastSeenVisibility: string(ls), Invisible: st.Invisible}, nil
}
