package gateway

import (
	"context"
	"encoding/json"

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
		if err := sv.ApplyMessage(ctx, c.g.hub, me, msg); err != nil {
			return err
		}
		fallthrough
	case protocol.TypeGetPrivacy:
		p, err := sv.InEffect(ctx, c.g.hub, me)
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
