package hub

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// roomEvent is what travels on a room's bus topic: a member's change, or a
// cursor.
type roomEvent struct {
	Kind string `json:"k"`
	User string `json:"u"`

	// A member change carries the member's record after it (nil: gone),
	// whether the user was a member before and whether invisible then, and
	// the room's counts and version after it. A member event is state, not
	// a delta: the newest per user wins.
	Was     bool                 `json:"bp,omitempty"`
	WasInv  bool                 `json:"bi,omitempty"`
	Member  *presence.RoomMember `json:"m,omitempty"`
	Count   int                  `json:"n,omitempty"`
	Visible int                  `json:"vn,omitempty"`
	V       uint64               `json:"v,omitempty"`
	// InvOnly says only the member's invisibility changed: nothing the
	// member itself could see.
	InvOnly bool `json:"io,omitempty"`

	// A cursor carries its sender's session, whether the sender is
	// invisible, and the frame members receive, encoded once.
	Session string          `json:"s,omitempty"`
	Inv     bool            `json:"i,omitempty"`
	Frame   json.RawMessage `json:"f,omitempty"`
}

const (
	kindMember = "m"
	kindCursor = "c"
	// kindRestate carries a member's record (nil: not a member) as read at
	// the room's version, not a change: each node sends its connections
	// only what differs from what it told them (see restate). A retried
	// room leave that finds nothing left to do publishes one, because the
	// attempt that did the leave may have died, or lost its reply, before
	// announcing it.
	kindRestate = "r"
)

// Room message types (see protocol for the client's).
const (
	typeRoomState   = protocol.TypeRoomState
	typeRoomJoin    = protocol.TypeRoomJoin
	typeRoomLeave   = protocol.TypeRoomLeave
	typeRoomUpdate  = protocol.TypeRoomUpdate
	typeRoomSummary = protocol.TypeRoomSummary
	typeRoomMembers = protocol.TypeRoomMembers
)

// publishRoom announces a membership change to every node with members in
// the room.
func (h *Hub) publishRoom(ctx context.Context, room string, ch *presence.RoomChange) {
	if !ch.Changed {
		return
	}
	ev := roomEvent{Kind: kindMember, User: memberUser(ch), Was: ch.Before != nil, Member: ch.After,
		Count: ch.Count, Visible: ch.Visible, V: ch.V}
	if ch.Before != nil {
		ev.WasInv = ch.Before.Invisible
		if ch.After != nil && ch.Before.Invisible != ch.After.Invisible {
			same := *ch.Before
			same.Invisible = ch.After.Invisible
			ev.InvOnly = same.Equal(ch.After)
		}
	}
	h.publishRoomEvent(ctx, room, &ev)
}

func (h *Hub) publishRoomEvent(ctx context.Context, room string, ev *roomEvent) {
	payload, err := json.Marshal(ev)
	if err == nil {
		err = h.cfg.Bus.Publish(ctx, roomBusTopic(room), payload)
	}
	if err != nil {
		h.log.Warn("room publish failed; members resync on their next room_state", "room", room, "err", err)
	}
}

func memberUser(ch *presence.RoomChange) string {
	if ch.After != nil {
		return ch.After.UserID
	}
	return ch.Before.UserID
}

// receiveRoom handles a payload of a room's bus topic.
func (h *Hub) receiveRoom(name string, payload []byte) {
	var ev roomEvent
	if err := json.Unmarshal(payload, &ev); err != nil || ev.User == "" {
		h.log.Warn("bad room payload", "room", name, "err", err)
		return
	}
	rt := h.rooms.get(name)
	if rt == nil {
		return
	}
	switch ev.Kind {
	case kindMember:
		h.deliverMember(rt, &ev)
	case kindRestate:
		rt.mu.Lock()
		h.restate(rt, ev.User, ev.Member, ev.Count, ev.Visible, ev.V)
		rt.mu.Unlock()
	case kindCursor:
		h.deliverCursor(rt, &ev)
	case kindRemoved:
		h.removedHere(name, ev.User)
	}
}

// memberFrame encodes room_join or room_update.
func memberFrame(typ, room string, ev *roomEvent) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","room":`...)
	b = presence.AppendString(b, room)
	b = append(b, `,"member":`...)
	b = ev.Member.AppendJSON(b)
	return appendCountV(b, ev.Visible, ev.V)
}

func leaveFrame(room string, ev *roomEvent) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"type":"`+typeRoomLeave+`","room":`...)
	b = presence.AppendString(b, room)
	b = append(b, `,"user_id":`...)
	b = presence.AppendString(b, ev.User)
	return appendCountV(b, ev.Visible, ev.V)
}

func appendCountV(b []byte, count int, v uint64) []byte {
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	b = append(b, `,"v":`...)
	b = strconv.AppendUint(b, v, 10)
	return append(b, '}')
}

// membersFrame encodes room_state or room_members (typ "" leaves the type
// and id out: the HTTP body): a page of members as viewer sees them.
// blocked is the number of members who block viewer, left out of the
// count (see Blocker).
func (h *Hub) membersFrame(typ string, reqID json.RawMessage, room, viewer string, page *presence.RoomPage, blocked int) []byte {
	b := make([]byte, 0, 128+len(page.Members)*160)
	b = append(b, '{')
	if typ != "" {
		b = append(b, `"type":"`...)
		b = append(b, typ...)
		b = append(b, `",`...)
		if len(reqID) > 0 {
			b = append(b, `"id":`...)
			b = append(b, reqID...)
			b = append(b, ',')
		}
	}
	b = append(b, `"room":`...)
	b = presence.AppendString(b, room)
	b = append(b, `,"members":[`...)
	first := true
	for _, m := range page.Members {
		if !h.sees(viewer, m.UserID, true, m.Invisible) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = m.AppendJSON(b)
	}
	b = append(b, `],"next":`...)
	if page.Next == "" {
		b = append(b, "null"...)
	} else {
		b = presence.AppendString(b, page.Next)
	}
	return appendCountV(b, max(0, h.countFor(viewer, page.Count, page.Visible)-blocked), page.V)
}

// countFor is the member count viewer is told: invisible members are not
// counted, except for the API key, which sees the real state. Members who
// block viewer are left out by the caller (see Blocker).
func (h *Hub) countFor(viewer string, count, visible int) int {
	if viewer == "" {
		return count
	}
	return visible
}
