package hub

import (
	"context"

	"github.com/presenced/presenced/presence"
)

// A room subscription that breaks and comes back (a reconnect, a slot
// move, an outage) may have missed events; so may one that a join gave up
// waiting for. The bus then delivers nil (see roomDeliver) and the room is
// re-read here, page by page, by the hub's resync goroutine. Each page is
// compared, under the room's lock, with what the node last told its local
// connections (roomTopic.held: its newest event per user, or the newest
// page that listed the user):
//   - a member whose record was written after that (presence.RoomMember.V)
//     is sent as a member event at the record's version: room_join or
//     room_update, or room_leave for a viewer who may no longer see them;
//   - a user the node had told of as a member, in the page's id range but
//     not in it, leaves at the page's version.
//
// These events take the way of any other: accepted as the newest of their
// user, then sent one by one in a small room or added to the next
// room_summary of a large one, so that connections end with the room's
// membership as read, at versions they order by. An event published
// before the read and delivered after it is stale by then and dropped.

// maxResyncPages bounds the pages of MaxRoomPage members a room's re-read
// reads: members past them are not compared. A large room's summary then
// says truncated, so that its members re-read it with room_members.
const maxResyncPages = 10

// resyncRooms re-reads rooms whose subscription came back (see runResync).
func (h *Hub) resyncRooms(names []string) error {
	for _, name := range names {
		if err := h.resyncRoom(context.Background(), name); err != nil {
			return err
		}
	}
	return nil
}

// resyncRoom re-reads room name and brings its local connections up to
// date. An error leaves the rest for the retry, which starts over.
func (h *Hub) resyncRoom(ctx context.Context, name string) error {
	rt := h.rooms.get(name)
	if rt == nil || h.cfg.Rooms == nil {
		return nil
	}
	after := ""
	var page presence.RoomPage
	for range maxResyncPages {
		var err error
		if page, err = h.cfg.Rooms.RoomMembers(ctx, name, after, MaxRoomPage); err != nil {
			return err
		}
		if !h.applyResync(rt, after, &page) || page.Next == "" {
			return nil
		}
		after = page.Next
	}
	h.cutResync(rt, &page)
	return nil
}

// applyResync brings rt's connections up to date with page, the members
// after after. It reports false when rt has no connection left.
func (h *Hub) applyResync(rt *roomTopic, after string, page *presence.RoomPage) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.subs) == 0 {
		return false
	}
	read := make(map[string]bool, len(page.Members))
	for _, m := range page.Members {
		read[m.UserID] = true
		h.restate(rt, m.UserID, m, page.Count, page.Visible, page.V)
	}
	// A room the store no longer has (version 0) gives no version to
	// order its leaves by: its members' own sessions have ended, and they
	// leave the room's fan-out with them.
	if page.V != 0 {
		var gone []string
		for _, marks := range []map[string]mark{rt.seen, rt.listed} {
			for u, m := range marks {
				if m.present && !read[u] && u > after && (page.Next == "" || u <= page.Next) {
					gone = append(gone, u)
				}
			}
		}
		for _, u := range gone {
			h.restate(rt, u, nil, page.Count, page.Visible, page.V)
		}
	}
	if page.V > rt.v {
		rt.v, rt.visible = page.V, page.Visible
	}
	return true
}

// restate brings rt's connections to user's membership as read at room
// version v: m is the member's record, nil when user is not a member. Only
// what differs from what the node last told its connections is sent.
// Called with rt.mu held.
func (h *Hub) restate(rt *roomTopic, user string, m *presence.RoomMember, count, visible int, v uint64) {
	prev, ok := rt.held(user)
	if m == nil {
		if prev.present && prev.v < v {
			h.resynced(rt, &roomEvent{Kind: kindMember, User: user, Was: true, WasInv: prev.invisible,
				Count: count, Visible: visible, V: v})
		}
		return
	}
	mv := m.V
	if mv == 0 { // a record written before records kept their version
		mv = v
	}
	// An unknown user's tombstone may have been pruned: a read older
	// than the horizon cannot tell a rejoin from a leave it missed.
	if ok && prev.v >= mv || !ok && v < rt.horizon {
		return
	}
	h.resynced(rt, &roomEvent{Kind: kindMember, User: user, Was: prev.present, WasInv: prev.invisible,
		Member: m, Count: count, Visible: visible, V: mv})
}

// resynced applies a member event derived from a read. Called with rt.mu
// held.
func (h *Hub) resynced(rt *roomTopic, ev *roomEvent) {
	rt.record(ev)
	h.fanMember(rt, ev)
}

// cutResync marks rt's re-read incomplete: the room has more members than
// maxResyncPages pages. A large room's next summary is truncated; a room
// announced member by member (RoomAnnounceMax above the bound) has its
// members past the bound checked at their next event only.
func (h *Hub) cutResync(rt *roomTopic, last *presence.RoomPage) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.subs) == 0 {
		return
	}
	if h.large(last.Count) {
		h.pendingSummary(rt).cut = true
		return
	}
	h.log.Warn("room too large to re-read in full after a resubscription; members past the first are not compared",
		"room", rt.name, "members", last.Count, "compared", maxResyncPages*MaxRoomPage)
}
