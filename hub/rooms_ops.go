package hub

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/presenced/presenced/presence"
)

// JoinRoom puts c's session in room with meta and queues the room_state
// (carrying reqID). A connection that is not a presence session yet becomes
// one, as with a heartbeat: membership lives and dies with the session.
//
// The session lists the room before the membership is written, so that
// whichever way the session ends, its end finds the room to leave.
func (h *Hub) JoinRoom(ctx context.Context, c *Client, room string, meta, reqID json.RawMessage) error {
	rs, err := h.roomStore()
	if err != nil {
		return err
	}
	if err := presence.ValidateRoom(room); err != nil {
		return err
	}
	if meta, err = presence.CompactObject("meta", meta, presence.MaxMetaBytes); err != nil {
		return err
	}
	sub, err := h.reserveRoom(c, room)
	if err != nil {
		return err
	}
	listed, member, joined := false, false, false
	defer func() {
		if joined {
			return
		}
		if c.releaseRoom(room, sub) {
			h.detachRoom(c, sub)
		}
		if member {
			_ = h.leaveConn(ctx, room, c.UserID, c.SessionID)
		}
		if listed {
			_ = h.unlistRoom(ctx, c, room)
		}
	}()
	if err := h.checkRoomFull(ctx, rs, room, c.UserID); err != nil {
		return err
	}
	if err := h.SetOnline(ctx, c, ""); err != nil {
		return err
	}
	if !c.IsSession() {
		return sessionEnded()
	}
	st, err := h.update(ctx, c.UserID, func(st *presence.UserState) error {
		ss := st.Session(c.SessionID)
		if ss == nil {
			return sessionEnded()
		}
		if !slices.Contains(ss.Rooms, room) {
			ss.Rooms = append(ss.Rooms, room)
		}
		return nil
	})
	if err != nil {
		return err
	}
	listed = true
	if err := h.attachRoom(c, room, sub); err != nil {
		return err
	}
	h.waitRoomActive(ctx, c, sub)
	now, dev := h.Now(), c.Device()
	ch, err := rs.UpdateRoom(ctx, room, c.UserID, func(m *presence.RoomMember, count int) (*presence.RoomMember, error) {
		if m == nil {
			if count >= h.cfg.MaxRoomMembers {
				return nil, h.roomFull(room)
			}
			m = &presence.RoomMember{UserID: c.UserID, JoinedAt: now}
		}
		if m.Conn(c.SessionID) < 0 {
			m.Connections = append(m.Connections, presence.RoomConn{SessionID: c.SessionID, Device: dev, Meta: meta})
		}
		if st.Version >= m.UserV {
			m.Invisible, m.UserV = st.Invisible, st.Version
		}
		return m, nil
	})
	if err != nil {
		return h.unavailable(err)
	}
	member = true
	h.publishRoom(ctx, room, &ch)
	if err := h.recheck(ctx, c, room, ch.After); err != nil {
		return err
	}
	if err := h.sendRoomState(ctx, c, room, sub, reqID); err != nil {
		return err
	}
	joined = true
	return nil
}

// checkRoomFull refuses a new member of a full room before the join opens
// a presence session, so that a refused join changes nothing. The store
// checks again when the member is written.
func (h *Hub) checkRoomFull(ctx context.Context, rs RoomStore, room, userID string) error {
	page, err := rs.RoomMembers(ctx, room, "", 0)
	if err != nil {
		return h.unavailable(err)
	}
	if page.Count < h.cfg.MaxRoomMembers {
		return nil
	}
	rooms, err := h.UserRooms(ctx, "", userID)
	if err != nil {
		return err
	}
	if slices.Contains(rooms, room) {
		return nil // another connection of a member
	}
	return h.roomFull(room)
}

func (h *Hub) roomFull(room string) error {
	return presence.Errorf(presence.CodeLimitExceeded, "room %s is full: at most %d members", room, h.cfg.MaxRoomMembers)
}

// recheck closes the race between a join and the end of its session or a
// change of the user's invisibility: either may have run between the
// session listing the room and the membership being written.
func (h *Hub) recheck(ctx context.Context, c *Client, room string, m *presence.RoomMember) error {
	states, err := h.cfg.Store.Load(ctx, []string{c.UserID})
	if err != nil {
		return h.unavailable(err)
	}
	st := states[c.UserID]
	ss := st.Session(c.SessionID)
	if ss == nil || !slices.Contains(ss.Rooms, room) {
		return sessionEnded()
	}
	if m != nil && st.Version > m.UserV && st.Invisible != m.Invisible {
		h.syncMember(ctx, room, c.UserID, st.Invisible, st.Version)
	}
	return nil
}

// sendRoomState reads the room's first page and queues it as c's
// room_state, followed by the events that arrived meanwhile.
func (h *Hub) sendRoomState(ctx context.Context, c *Client, room string, sub *roomSub, reqID json.RawMessage) error {
	for attempt := 0; ; attempt++ {
		page, err := h.cfg.Rooms.RoomMembers(ctx, room, "", h.roomStatePage())
		if err != nil {
			return h.unavailable(err)
		}
		frame := h.membersFrame(typeRoomState, reqID, room, c.UserID, &page, h.blockersOn(c.UserID, &page))
		if h.install(c, sub, &page, frame, attempt >= 2) {
			return nil
		}
	}
}

// LeaveRoom takes c's session out of room.
func (h *Hub) LeaveRoom(ctx context.Context, c *Client, room string) error {
	if err := presence.ValidateRoom(room); err != nil {
		return err
	}
	sub := c.takeRoom(room)
	if sub == nil {
		return notInRoom(room)
	}
	h.detachRoom(c, sub)
	if err := h.leaveConn(ctx, room, c.UserID, c.SessionID); err != nil {
		return err
	}
	return h.unlistRoom(ctx, c, room)
}

// UpdateRoomMeta replaces the meta of c's connection in room.
func (h *Hub) UpdateRoomMeta(ctx context.Context, c *Client, room string, meta json.RawMessage) error {
	if err := presence.ValidateRoom(room); err != nil {
		return err
	}
	if meta == nil {
		return presence.Errorf(presence.CodeInvalidArgument, "update_room_meta needs \"meta\": a JSON object")
	}
	meta, err := presence.CompactObject("meta", meta, presence.MaxMetaBytes)
	if err != nil {
		return err
	}
	if c.room(room) == nil {
		return notInRoom(room)
	}
	ch, err := h.cfg.Rooms.UpdateRoom(ctx, room, c.UserID, func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) {
		i := -1
		if m != nil {
			i = m.Conn(c.SessionID)
		}
		if i < 0 {
			return nil, notInRoom(room)
		}
		m.Connections[i].Meta = meta
		return m, nil
	})
	if err != nil {
		return h.unavailable(err)
	}
	h.publishRoom(ctx, room, &ch)
	return nil
}

// RoomHeartbeat accepts an older client's room heartbeat. The frame was
// already a sign of life; membership needs nothing more.
func (h *Hub) RoomHeartbeat(c *Client, room string) error {
	if err := presence.ValidateRoom(room); err != nil {
		return err
	}
	if c.room(room) == nil {
		return notInRoom(room)
	}
	return nil
}

// leaveConn removes one session's connection from room's membership.
func (h *Hub) leaveConn(ctx context.Context, room, userID, sessionID string) error {
	return h.leaveConnAgain(ctx, room, userID, sessionID, false)
}

// leaveConnAgain is leaveConn; retry says an earlier attempt may have done
// the leave without announcing it (see kindRestate): finding nothing to
// do, it publishes the member's state as read.
func (h *Hub) leaveConnAgain(ctx context.Context, room, userID, sessionID string, retry bool) error {
	ch, err := h.cfg.Rooms.UpdateRoom(ctx, room, userID, func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) {
		if m == nil {
			return nil, nil
		}
		if i := m.Conn(sessionID); i >= 0 {
			m.Connections = slices.Delete(m.Connections, i, i+1)
		}
		if len(m.Connections) == 0 {
			return nil, nil
		}
		return m, nil
	})
	if err != nil {
		h.log.Warn("could not leave room; the membership stays until retried", "room", room, "user", userID, "err", err)
		return h.unavailable(err)
	}
	if retry && !ch.Changed && ch.V != 0 {
		h.publishRoomEvent(ctx, room, &roomEvent{Kind: kindRestate, User: userID, Member: ch.After,
			Count: ch.Count, Visible: ch.Visible, V: ch.V})
		return nil
	}
	h.publishRoom(ctx, room, &ch)
	return nil
}

// unlistRoom removes room from c's session record.
func (h *Hub) unlistRoom(ctx context.Context, c *Client, room string) error {
	_, err := h.update(ctx, c.UserID, func(st *presence.UserState) error {
		if ss := st.Session(c.SessionID); ss != nil {
			if i := slices.Index(ss.Rooms, room); i >= 0 {
				ss.Rooms = slices.Delete(ss.Rooms, i, i+1)
			}
		}
		return nil
	})
	return err
}

// syncMember carries the user's invisibility (as of user version userV)
// to their member record in room.
func (h *Hub) syncMember(ctx context.Context, room, userID string, invisible bool, userV uint64) {
	ch, err := h.cfg.Rooms.UpdateRoom(ctx, room, userID, func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) {
		if m == nil || m.UserV >= userV {
			return m, nil
		}
		m.Invisible, m.UserV = invisible, userV
		return m, nil
	})
	if err != nil {
		h.log.Warn("could not carry invisibility to a room", "room", room, "user", userID, "err", err)
		return
	}
	h.publishRoom(ctx, room, &ch)
}

// reserveRoom checks that c may join room and holds its place among c's
// rooms.
func (h *Hub) reserveRoom(c *Client, room string) (*roomSub, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, sessionEnded()
	case !presence.RoomAllowed(c.rooms.patterns, room):
		return nil, presence.Errorf(presence.CodeForbidden, "your token does not allow room %s", room)
	case c.rooms.m[room] != nil:
		return nil, presence.Errorf(presence.CodeConflict, "this connection is already in room %s", room)
	case len(c.rooms.m) >= h.cfg.MaxRoomsPerConnection:
		return nil, presence.Errorf(presence.CodeLimitExceeded, "a connection may be in at most %d rooms", h.cfg.MaxRoomsPerConnection)
	}
	if c.rooms.m == nil {
		c.rooms.m = make(map[string]*roomSub)
	}
	sub := &roomSub{room: room}
	c.rooms.m[room] = sub
	return sub, nil
}

// releaseRoom gives up sub's place among c's rooms and reports whether it
// still held it.
func (c *Client) releaseRoom(room string, sub *roomSub) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rooms.m[room] != sub {
		return false
	}
	delete(c.rooms.m, room)
	return true
}

// room returns c's sub of room, or nil.
func (c *Client) room(room string) *roomSub {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rooms.m[room]
}

// takeRoom removes and returns c's sub of room, or nil.
func (c *Client) takeRoom(room string) *roomSub {
	c.mu.Lock()
	defer c.mu.Unlock()
	sub := c.rooms.m[room]
	delete(c.rooms.m, room)
	return sub
}

func notInRoom(room string) error {
	return presence.Errorf(presence.CodeNotFound, "this connection is not in room %s", room)
}

func sessionEnded() error {
	return presence.Errorf(presence.CodeConflict, "the connection's presence session has ended")
}
