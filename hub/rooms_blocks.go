package hub

import (
	"context"

	"github.com/presenced/presenced/presence"
)

// Blocker is an optional ability of a Policy. Blocking reports whether
// target blocks anyone; Blocks whether target blocks viewer. Both answer
// from memory, as Level does.
//
// A room's count leaves out, for each viewer, the members who block the
// viewer: a count that included a member the viewer is never listed would
// reveal the block. Other members a viewer's Policy hides are counted (a
// count per viewer would cost a Policy call per member); a block is rare,
// so a viewer pays only for the members who block someone.
type Blocker interface {
	Blocking(target string) bool
	Blocks(target, viewer string) bool
}

// blocks reports whether member, present and not invisible, blocks viewer.
func (h *Hub) blocks(b Blocker, member, viewer string, present, invisible bool) bool {
	return present && !invisible && viewer != "" && member != viewer && b.Blocking(member) && b.Blocks(member, viewer)
}

// blockersOn counts the members on page who block viewer.
func (h *Hub) blockersOn(viewer string, page *presence.RoomPage) int {
	b, ok := h.cfg.Policy.(Blocker)
	if !ok || viewer == "" {
		return 0
	}
	n := 0
	for _, m := range page.Members {
		if h.blocks(b, m.UserID, viewer, true, m.Invisible) {
			n++
		}
	}
	return n
}

// roomBlockers counts the members who block viewer among the room's first
// roomStatePage members, the members a room_state lists: every read of a
// room counts the same members whatever page it shows (a count that
// changed from page to page would point at the page of the blocker). page
// (read after after) serves when it holds those members; otherwise they
// are read, which only a user's read of a large room, past its first
// page, costs.
func (h *Hub) roomBlockers(ctx context.Context, viewer, room, after string, page *presence.RoomPage) (int, error) {
	if _, ok := h.cfg.Policy.(Blocker); !ok || viewer == "" {
		return 0, nil
	}
	first := h.roomStatePage()
	holdsFirst := after == "" && (len(page.Members) >= first || (page.Next == "" && len(page.Members) >= page.Count))
	if !holdsFirst {
		p, err := h.roomPage(ctx, room, "", first)
		if err != nil {
			return 0, err
		}
		page = &p
	}
	n := 0
	for i, m := range page.Members {
		if i < first && h.blocks(h.cfg.Policy.(Blocker), m.UserID, viewer, true, m.Invisible) {
			n++
		}
	}
	return n, nil
}

// connBlockers returns the blockers c's room connection knows (those its
// events are counted without), if c is in room.
func (h *Hub) connBlockers(c *Client, room string) (int, bool) {
	sub := c.room(room)
	if sub == nil {
		return 0, false
	}
	rt := c.topicOf(sub)
	if rt == nil {
		return 0, false
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if sub.detached || sub.snapV == pending {
		return 0, false
	}
	return len(sub.blockers), true
}

// noteBlockers records in sub which members on page block its viewer: a
// room_state lists the whole room up to its 1,000 members, so for such
// rooms the set is complete. Called with rt.mu held.
func (h *Hub) noteBlockers(sub *roomSub, viewer string, page *presence.RoomPage) {
	sub.blockers = nil
	b, ok := h.cfg.Policy.(Blocker)
	if !ok {
		return
	}
	for _, m := range page.Members {
		if h.blocks(b, m.UserID, viewer, true, m.Invisible) {
			sub.setBlocker(m.UserID, true)
		}
	}
}

// setBlocker records whether user blocks sub's viewer. Called with rt.mu
// held.
func (sub *roomSub) setBlocker(user string, blocks bool) {
	if blocks {
		if sub.blockers == nil {
			sub.blockers = make(map[string]struct{})
		}
		sub.blockers[user] = struct{}{}
	} else {
		delete(sub.blockers, user)
	}
}

// eventBlocker returns the Policy's Blocker when ev's member blocks
// anyone, so that a fan-out asks it once per event, not once per viewer.
func (h *Hub) eventBlocker(ev *roomEvent) Blocker {
	if b, ok := h.cfg.Policy.(Blocker); ok && b.Blocking(ev.User) {
		return b
	}
	return nil
}

// memberEventFor returns what viewer (on sub) receives for ev, or nil,
// with the count the viewer is told; f caches the frames of viewers who
// are blocked by no member, b is eventBlocker(ev). Called with rt.mu held.
func (h *Hub) memberEventFor(f *memberFrames, b Blocker, sub *roomSub, room, viewer string, ev *roomEvent) []byte {
	if b != nil || sub.blockers != nil {
		present := ev.Member != nil
		sub.setBlocker(ev.User, b != nil && h.blocks(b, ev.User, viewer, present, present && ev.Member.Invisible))
	}
	if len(sub.blockers) == 0 {
		return f.forViewer(h, room, viewer, ev)
	}
	own := *ev
	own.Visible = max(0, ev.Visible-len(sub.blockers))
	var mine memberFrames
	return mine.forViewer(h, room, viewer, &own)
}

// blockingIn returns the users changed in s who block someone: the only
// ones whose change can alter a viewer's blockers.
func (h *Hub) blockingIn(s *summary) []string {
	b, ok := h.cfg.Policy.(Blocker)
	if !ok {
		return nil
	}
	var out []string
	for _, u := range s.order {
		if b.Blocking(u) {
			out = append(out, u)
		}
	}
	return out
}

// noteSummaryBlockers updates sub's blockers with the latest state of the
// summarised users who block someone. Called with rt.mu held.
func (h *Hub) noteSummaryBlockers(rt *roomTopic, sub *roomSub, viewer string, blocking []string) {
	if len(blocking) == 0 {
		return
	}
	b := h.cfg.Policy.(Blocker)
	for _, u := range blocking {
		m := rt.seen[u]
		sub.setBlocker(u, h.blocks(b, u, viewer, m.present, m.invisible))
	}
}
