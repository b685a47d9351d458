package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
	"github.com/presenced/presenced/wsconn"
)

// conn is one connection's protocol state; it is the wsconn.Handler of the
// connection and the hub.Sink of its client.
type conn struct {
	g      *Gateway
	client *hub.Client
	ws     atomic.Pointer[wsconn.Conn]
	once   sync.Once

	rate limiter
}

var (
	_ wsconn.Handler = (*conn)(nil)
	_ hub.Sink       = (*conn)(nil)
)

// ready is called once the upgrade has returned the connection: the
// welcome goes out first, before any reply.
func (c *conn) ready(ws *wsconn.Conn) {
	c.ws.Store(ws)
	c.welcome(ws)
}

func (c *conn) welcome(ws *wsconn.Conn) {
	c.once.Do(func() {
		_ = ws.WriteText(c.g.hub.Welcome(c.client, c.g.cfg.MaxMessageBytes))
		c.g.m.Inc(c.g.m.MessagesOut, protocol.TypeWelcome)
	})
}

// WriteText implements hub.Sink.
func (c *conn) WriteText(b []byte) error {
	if ws := c.ws.Load(); ws != nil {
		return ws.WriteText(b)
	}
	return nil
}

// Ping implements hub.Sink.
func (c *conn) Ping() error {
	if ws := c.ws.Load(); ws != nil {
		return ws.Ping()
	}
	return nil
}

// Close implements hub.Sink.
func (c *conn) Close(code int, reason string) {
	if ws := c.ws.Load(); ws != nil {
		ws.Close(code, reason)
	}
}

// OnPong implements wsconn.Handler.
func (c *conn) OnPong(*wsconn.Conn) { c.g.hub.Touch(c.client) }

// OnClose implements wsconn.Handler.
func (c *conn) OnClose(*wsconn.Conn, error) {
	c.g.hub.Disconnect(c.client)
	c.g.adm.release(c.client.UserID)
}

var heartbeatFrame = []byte(`{"type":"heartbeat"}`)

// OnMessage implements wsconn.Handler. Every message is a sign of life,
// even one that is refused. It waits for the store when the message
// changes or reads state (a bolt group commit, a Redis round trip bounded
// by its timeout): wsconn runs it on a bounded pool of workers for that
// reason, and the connection's next messages wait behind it.
func (c *conn) OnMessage(ws *wsconn.Conn, data []byte) {
	c.welcome(ws)
	h := c.g.hub
	h.Touch(c.client)
	now := h.Now().UnixNano()
	if bytes.Equal(data, heartbeatFrame) && c.client.IsSession() {
		if !c.allowType(protocol.TypeHeartbeat, now) {
			c.refuse(now)
			return
		}
		c.g.m.Heartbeat()
		return
	}
	var msg protocol.ClientMessage
	err := json.Unmarshal(data, &msg)
	typ := msg.Type
	if err != nil {
		typ = "" // charged as any message
	}
	if !c.allowType(typ, now) {
		c.refuse(now)
		return
	}
	if err != nil {
		c.fail(nil, presence.Errorf(presence.CodeBadJSON, "message is not a JSON object: %s", jsonError(err)))
		return
	}
	if len(msg.ID) > protocol.MaxRequestIDBytes {
		c.fail(nil, presence.Errorf(presence.CodeInvalidArgument, "id is longer than %d bytes", protocol.MaxRequestIDBytes))
		return
	}
	c.g.m.Inc(c.g.m.MessagesIn, messageLabel(msg.Type))
	if err := c.dispatch(context.Background(), &msg); err != nil {
		c.fail(msg.ID, err)
	}
}

func (c *conn) dispatch(ctx context.Context, msg *protocol.ClientMessage) error {
	h := c.g.hub
	switch msg.Type {
	case protocol.TypeSetOnline:
		if err := h.SetOnline(ctx, c.client, msg.Device); err != nil {
			return err
		}
	case protocol.TypeHeartbeat:
		if !c.client.IsSession() {
			if err := h.SetOnline(ctx, c.client, msg.Device); err != nil {
				return err
			}
		}
	case protocol.TypeSetStatus:
		ch, err := msg.StatusChange()
		if err != nil {
			return err
		}
		if _, err := h.SetStatus(ctx, c.client.UserID, ch); err != nil {
			return err
		}
	case protocol.TypeIdleState:
		if msg.Idle == nil {
			return presence.Errorf(presence.CodeInvalidArgument, "idle_state needs \"idle\": true or false")
		}
		if err := h.SetIdle(ctx, c.client, *msg.Idle); err != nil {
			return err
		}
	case protocol.TypeSetOffline:
		if err := h.SetOffline(ctx, c.client); err != nil {
			return err
		}
	case protocol.TypeSubscribe:
		return h.Subscribe(ctx, c.client, msg.UserIDs, msg.ID)
	case protocol.TypeUnsubscribe:
		if err := h.Unsubscribe(c.client, msg.UserIDs); err != nil {
			return err
		}
	case protocol.TypeGetPresence:
		frame, err := h.PresenceReply(ctx, c.client.UserID, protocol.TypePresence, msg.ID, msg.UserIDs)
		if err != nil {
			return err
		}
		c.client.Send(frame)
		return nil
	case protocol.TypePing:
		c.reply(protocol.TypePong, msg.ID)
		return nil
	case protocol.TypeRefreshToken:
		if err := c.refreshToken(msg.Token); err != nil {
			return err
		}
	case protocol.TypeSetPrivacy, protocol.TypeGetPrivacy, protocol.TypeBlock, protocol.TypeUnblock:
		return c.privacyMessage(ctx, msg)
	case protocol.TypeJoinRoom, protocol.TypeLeaveRoom, protocol.TypeUpdateRoomMeta,
		protocol.TypeRoomHeartbeat, protocol.TypeCursor, protocol.TypeRoomMembers:
		return c.dispatchRoom(ctx, msg)
	case "":
		return presence.Errorf(presence.CodeUnknownType, "message has no \"type\"")
	default:
		return presence.Errorf(presence.CodeUnknownType, "unknown message type %q", truncate(msg.Type, 64))
	}
	if len(msg.ID) > 0 {
		c.reply(protocol.TypeAck, msg.ID)
	}
	return nil
}

func (c *conn) reply(typ string, id json.RawMessage) {
	b, _ := json.Marshal(protocol.Ack{Type: typ, ID: id})
	c.client.Send(b)
}

// fail sends an error reply. Internal errors reach the client only as
// "internal error"; their detail is logged.
func (c *conn) fail(id json.RawMessage, err error) {
	code := presence.ErrorCode(err)
	if code == presence.CodeInternal {
		c.g.log.Error("request failed", "user", c.client.UserID, "err", err)
	}
	c.g.m.Inc(c.g.m.Errors, string(code))
	b, _ := json.Marshal(protocol.Error{Type: protocol.TypeError, ID: id, Code: string(code), Message: presence.ErrorMessage(err)})
	c.client.Send(b)
}

var knownTypes = map[string]bool{
	protocol.TypeSetOnline: true, protocol.TypeHeartbeat: true, protocol.TypeSetStatus: true,
	protocol.TypeIdleState: true, protocol.TypeSetOffline: true, protocol.TypeSubscribe: true,
	protocol.TypeUnsubscribe: true, protocol.TypeGetPresence: true, protocol.TypePing: true,
	protocol.TypeSetPrivacy: true, protocol.TypeGetPrivacy: true, protocol.TypeBlock: true, protocol.TypeUnblock: true,
	protocol.TypeRefreshToken: true,
}

// messageLabel keeps the metrics' label set bounded whatever clients send.
func messageLabel(t string) string {
	if knownTypes[t] {
		return t
	}
	return "unknown"
}

func jsonError(err error) string {
	return truncate(err.Error(), 120)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
