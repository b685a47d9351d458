package hub

import (
	"context"
	"strconv"
	"time"

	"github.com/presenced/presenced/presence"
)

// summary collects a large room's member changes between two room_summary
// messages: per user, the state before the first change and after the
// last, so that each viewer is told the net change it can see.
type summary struct {
	start map[string]mark
	end   map[string]mark
	order []string // users in the order of their first change
	// cut is set when more than summaryScan users changed: the others are
	// not followed, and every viewer's summary is truncated.
	cut bool
}

// summaryScan bounds the changed users a summary follows, so that a flush
// costs at most members × summaryScan, however many joined at once.
const summaryScan = 3 * MaxSummaryDelta

// pendingSummary returns rt's pending summary, starting one due in
// RoomSummaryInterval if none is. Called with rt.mu held.
func (h *Hub) pendingSummary(rt *roomTopic) *summary {
	if rt.sum == nil {
		rt.sum = &summary{start: make(map[string]mark), end: make(map[string]mark)}
		h.scheduleSummary(rt, h.Now().Add(h.cfg.RoomSummaryInterval))
	}
	return rt.sum
}

// summarize adds ev to rt's pending summary. Called with rt.mu held.
func (h *Hub) summarize(rt *roomTopic, ev *roomEvent) {
	s := h.pendingSummary(rt)
	if _, ok := s.start[ev.User]; !ok {
		if len(s.order) >= summaryScan {
			s.cut = true
			return
		}
		s.start[ev.User] = mark{present: ev.Was, invisible: ev.WasInv}
		s.order = append(s.order, ev.User)
	}
	s.end[ev.User] = mark{present: ev.Member != nil, invisible: ev.Member != nil && ev.Member.Invisible}
}

// roomTick sends the summaries and the coalesced cursors that are due.
func (h *Hub) roomTick(ctx context.Context, now time.Time) {
	h.rooms.sumMu.Lock()
	due := h.rooms.sumQ.PopDue(now, 0, nil)
	h.rooms.sumMu.Unlock()
	for _, rt := range due {
		h.flushSummary(rt)
	}
	h.flushCursors(ctx, now)
}

// deltas is what one viewer is told in a summary.
type deltas struct {
	joined, left, updated []string
	truncated             bool
}

func (d *deltas) add(list *[]string, user string) {
	if len(*list) >= MaxSummaryDelta {
		d.truncated = true
		return
	}
	*list = append(*list, user)
}

// Classes of a changed user in a viewer's summary.
const (
	classNone int8 = iota
	classJoined
	classLeft
	classUpdated
)

func class(before, after bool) int8 {
	switch {
	case !before && after:
		return classJoined
	case before && !after:
		return classLeft
	case before && after:
		return classUpdated
	}
	return classNone
}

// classify returns how viewer is told of user's net change (see sees).
func (h *Hub) classify(s *summary, viewer, user string) int8 {
	self := viewer == user
	if !self && h.level(viewer, user) == presence.LevelHidden {
		return classNone
	}
	a, b := s.start[user], s.end[user]
	return class(a.present && (self || !a.invisible), b.present && (self || !b.invisible))
}

// classes returns the class of every changed user for viewer; viewer ""
// is the public view: no privacy relation to anyone.
func (h *Hub) classes(s *summary, viewer string) []int8 {
	out := make([]int8, len(s.order))
	for i, u := range s.order {
		if viewer == "" {
			a, b := s.start[u], s.end[u]
			out[i] = class(a.present && !a.invisible, b.present && !b.invisible)
		} else {
			out[i] = h.classify(s, viewer, u)
		}
	}
	return out
}

func deltasOf(s *summary, cls []int8) deltas {
	d := deltas{truncated: s.cut}
	for i, u := range s.order {
		switch cls[i] {
		case classJoined:
			d.add(&d.joined, u)
		case classLeft:
			d.add(&d.left, u)
		case classUpdated:
			d.add(&d.updated, u)
		}
	}
	return d
}

// flushSummary sends rt's pending summary to its local members: one shared
// frame for every viewer whose view is the public one, its own frame for
// the others.
func (h *Hub) flushSummary(rt *roomTopic) {
	h.prepareSummary(rt)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	s := rt.sum
	rt.sum = nil
	if s == nil {
		return
	}
	pub := h.classes(s, "")
	d := deltasOf(s, pub)
	shared := summaryFrame(rt, &d, rt.visible)
	check := h.policyChecks(s)
	n := 0
	blocking := h.blockingIn(s)
	for c, sub := range rt.subs {
		h.noteSummaryBlockers(rt, sub, c.UserID, blocking)
		frame := shared
		if !h.matchesPublic(s, pub, check, c.UserID) || len(sub.blockers) > 0 {
			own := deltasOf(s, h.classes(s, c.UserID))
			frame = summaryFrame(rt, &own, max(0, rt.visible-len(sub.blockers)))
		}
		if sub.snapV == pending {
			sub.heldSum = frame
			continue
		}
		c.Send(frame)
		n++
	}
	h.m.MessagesOut.WithLabelValues(typeRoomSummary).Add(float64(n))
}

// matchesPublic reports whether viewer sees the summary as the public
// does: viewer is none of the changed users (who see themselves even
// invisible), and the Policy hides none of those in check from viewer.
func (h *Hub) matchesPublic(s *summary, pub []int8, check []int, viewer string) bool {
	if _, changed := s.start[viewer]; changed {
		return false
	}
	for _, i := range check {
		if h.classify(s, viewer, s.order[i]) != pub[i] {
			return false
		}
	}
	return true
}

// prepareSummary loads the privacy settings of the users rt's pending
// summary follows, outside the room's lock, under which flushSummary asks
// the Policy about them. A user who changes in between is asked about
// under the lock, as before.
func (h *Hub) prepareSummary(rt *roomTopic) {
	rt.mu.Lock()
	var ids []string
	if rt.sum != nil {
		ids = append(ids, rt.sum.order...)
	}
	rt.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), policyLoadTimeout)
	_ = h.preparePolicy(ctx, ids)
	cancel()
}

// Restricter is an optional ability of a Policy. Restricted reports
// whether the Policy may show target to anyone at less than LevelFull;
// fan-outs to many viewers (room summaries) then ask Level only about the
// targets that are.
type Restricter interface {
	Restricted(target string) bool
}

// policyChecks returns the indices of the changed users whose view may
// depend on the viewer under the Policy.
func (h *Hub) policyChecks(s *summary) []int {
	if h.cfg.Policy == nil {
		return nil
	}
	r, _ := h.cfg.Policy.(Restricter)
	var out []int
	for i, u := range s.order {
		if r == nil || r.Restricted(u) {
			out = append(out, i)
		}
	}
	return out
}

func summaryFrame(rt *roomTopic, d *deltas, count int) []byte {
	b := make([]byte, 0, 96+16*(len(d.joined)+len(d.left)+len(d.updated)))
	b = append(b, `{"type":"`+typeRoomSummary+`","room":`...)
	b = presence.AppendString(b, rt.name)
	for _, l := range []struct {
		name string
		ids  []string
	}{{"joined", d.joined}, {"left", d.left}, {"updated", d.updated}} {
		b = append(b, `,"`...)
		b = append(b, l.name...)
		b = append(b, `":[`...)
		for i, id := range l.ids {
			if i > 0 {
				b = append(b, ',')
			}
			b = presence.AppendString(b, id)
		}
		b = append(b, ']')
	}
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, d.truncated)
	return appendCountV(b, count, rt.v)
}
