package hub

import (
	"context"
	"encoding/json"

	"github.com/presenced/presenced/presence"
)

// PolicyPreparer is an optional ability of a Policy that caches what it
// needs: the hub calls Prepare with the users a subscribe or a read is
// about to ask Level about, so that their settings load in one store read.
type PolicyPreparer interface {
	Prepare(ctx context.Context, userIDs []string) error
}

// PolicyRefresher is an optional ability of a Policy that caches what it
// needs: Refresh reloads userID's settings after they changed and returns
// the level function as it was before, so the hub can tell which viewers'
// views changed.
type PolicyRefresher interface {
	Refresh(ctx context.Context, userID string) (before func(viewer, target string) presence.Level, err error)
}

// TargetPolicy is an optional ability of a Policy: LevelsFor looks the
// target up once per fan-out, so that each delivery pays only for the
// viewer's part of the rule.
type TargetPolicy interface {
	LevelsFor(target string) func(viewer string) presence.Level
}

func (h *Hub) levelsFor(target string) func(viewer string) presence.Level {
	switch p := h.cfg.Policy.(type) {
	case nil:
		return func(string) presence.Level { return presence.LevelFull }
	case TargetPolicy:
		return p.LevelsFor(target)
	default:
		return func(viewer string) presence.Level { return p.Level(viewer, target) }
	}
}

// kindPrivacy is the bus event of a change of who may see a user. It
// travels on the user's topic, in order with the user's presence events,
// and carries the user's record after the change.
const kindPrivacy = "v"

// PrivacyChanged applies a change of userID's privacy settings, already
// saved, to every live subscription. The user's version moves (Hide), and
// exactly the viewers whose view changed are sent the new one: a viewer who
// can no longer see the user receives them offline with nothing set; one
// who now can receives their real state; one whose view stays the same
// receives nothing, so a hidden viewer learns nothing.
func (h *Hub) PrivacyChanged(ctx context.Context, userID string) error {
	return h.privacyUpdate(ctx, userID, nil)
}

// Erase ends every session of userID at once (connections are closed with
// 4003) and erases the user's presence record: statuses, activity, custom
// status, last-seen. Only the version counter stays, so that watchers
// never see versions go back; they see the user offline with nothing set.
// Room leaves the kick still owes stay too, until performed: they take the
// user out of the rooms. The caller erases the user's settings first.
func (h *Hub) Erase(ctx context.Context, userID string) error {
	if err := h.Kick(ctx, userID); err != nil {
		return err
	}
	return h.privacyUpdate(ctx, userID, func(st *presence.UserState) {
		*st = presence.UserState{UserID: userID, Version: st.Version, HiddenV: st.HiddenV, Leaves: st.Leaves, LeavesDue: st.LeavesDue}
	})
}

// SetInvisible makes userID appear offline to everyone else, or ends that.
func (h *Hub) SetInvisible(ctx context.Context, userID string, invisible bool) error {
	if err := presence.ValidateUserID(userID); err != nil {
		return err
	}
	_, err := h.update(ctx, userID, func(st *presence.UserState) error {
		st.Invisible = invisible
		return nil
	})
	return err
}

// State returns everything stored about userID's presence.
func (h *Hub) State(ctx context.Context, userID string) (presence.UserState, error) {
	if err := presence.ValidateUserID(userID); err != nil {
		return presence.UserState{}, err
	}
	m, err := h.cfg.Store.Load(ctx, []string{userID})
	if err != nil {
		return presence.UserState{}, h.unavailable(err)
	}
	st := m[userID]
	st.UserID = userID
	return st, nil
}

// InUse reports whether userID is watched or connected on this node: a
// caching Policy keeps such users' settings in memory.
func (h *Hub) InUse(userID string) bool {
	if h.topics.get(userID) != nil {
		return true
	}
	h.clientMu.Lock()
	defer h.clientMu.Unlock()
	return len(h.byUser[userID]) > 0
}

func (h *Hub) privacyUpdate(ctx context.Context, userID string, op func(st *presence.UserState)) error {
	if err := presence.ValidateUserID(userID); err != nil {
		return err
	}
	// The policy answers with the new settings before the record moves:
	// an update racing with this one is judged by them, never the old.
	before, err := h.refreshPolicy(ctx, userID)
	if err != nil {
		return h.unavailable(err)
	}
	now := h.Now()
	var ended []presence.Session
	st, err := h.cfg.Store.Update(ctx, userID, func(st *presence.UserState) error {
		st.UserID = userID
		b := st.Fold()
		if op != nil {
			op(st)
		}
		ended = st.Settle(b, now, h.timing)
		st.Hide()
		return nil
	})
	if err != nil {
		return h.unavailable(err)
	}
	h.ended(ended)
	p := st.Fold()
	h.applyPrivacy(userID, &record{p: p, hiddenV: st.HiddenV, wasInvisible: p.Invisible}, before)
	payload, err := json.Marshal(event{Kind: kindPrivacy, Presence: &p, HiddenV: st.HiddenV, Node: h.cfg.Node})
	if err == nil {
		err = h.cfg.Bus.Publish(ctx, busTopic(userID), payload)
	}
	if err != nil {
		h.log.Warn("publishing a privacy change failed; other nodes apply it on their watchers' next snapshot", "user", userID, "err", err)
	}
	h.announceSettings(ctx, userID)
	return nil
}

// refreshPolicy reloads userID's settings and returns the level function
// from before. A policy that keeps nothing answers the same before and after.
func (h *Hub) refreshPolicy(ctx context.Context, userID string) (func(viewer, target string) presence.Level, error) {
	if r, ok := h.cfg.Policy.(PolicyRefresher); ok {
		return r.Refresh(ctx, userID)
	}
	return h.level, nil
}

// receivePrivacy applies another node's privacy change to this node's
// watchers. The node that made the change applied it already.
func (h *Hub) receivePrivacy(name string, ev *event) {
	if ev.Node == h.cfg.Node {
		return
	}
	before, err := h.refreshPolicy(context.Background(), name)
	if err != nil {
		h.log.Error("privacy settings unreadable; hiding the user from this node's watchers", "user", name, "err", err)
		before = func(string, string) presence.Level { return presence.LevelFull }
	}
	h.applyPrivacy(name, &record{p: *ev.Presence, hiddenV: ev.HiddenV, wasInvisible: ev.Presence.Invisible}, before)
}

// applyPrivacy sends rec to every local viewer whose view of userID
// changed, and re-sends to userID's own connections the users whose view
// their own change altered (last-seen reciprocity).
func (h *Hub) applyPrivacy(userID string, rec *record, before func(viewer, target string) presence.Level) {
	if t := h.topics.get(userID); t != nil {
		old := t.latest.Load()
		t.advance(rec)
		cur := t.latest.Load()
		var frames [presence.LevelHidden + 1][]byte
		s := h.topics.shard(userID)
		s.mu.RLock()
		n := 0
		for c := range t.subs {
			if c.UserID == userID {
				continue // a user's own view is their real state, whatever their settings
			}
			lvl := h.level(c.UserID, userID)
			nv := presence.View(cur.p, cur.hiddenV, lvl)
			if old != nil && sameView(presence.View(old.p, old.hiddenV, before(c.UserID, userID)), nv) {
				continue
			}
			if frames[lvl] == nil {
				frames[lvl] = updateFrame(nv)
			}
			if c.deliver(t, cur.p.V, frames[lvl]) {
				n++
			}
		}
		s.mu.RUnlock()
		h.m.Delivered(n)
	}
	h.clientMu.Lock()
	mine := append([]*Client(nil), h.byUser[userID]...)
	h.clientMu.Unlock()
	for _, c := range mine {
		h.reviewViews(c, before)
	}
}

// reviewViews re-sends to c every watched user whose view c's own settings
// change altered. The user's version did not move, so the same version is
// sent again with the new view; clients keep an update whose version is
// not lower than the one they have.
func (h *Hub) reviewViews(c *Client, before func(viewer, target string) presence.Level) {
	c.mu.Lock()
	topics := make([]*topic, 0, len(c.subs))
	for t, last := range c.subs {
		if last != pending && t.name != c.UserID {
			topics = append(topics, t)
		}
	}
	c.mu.Unlock()
	n := 0
	for _, t := range topics {
		rec := t.latest.Load()
		if rec == nil {
			continue
		}
		lvl := h.level(c.UserID, t.name)
		nv := presence.View(rec.p, rec.hiddenV, lvl)
		if sameView(presence.View(rec.p, rec.hiddenV, before(c.UserID, t.name)), nv) {
			continue
		}
		if c.redeliver(t, rec.p.V, updateFrame(nv)) {
			n++
		}
	}
	h.m.Delivered(n)
}

// redeliver is deliver for a view that changed while the version did not:
// it also sends the version the client already has.
func (c *Client) redeliver(t *topic, v uint64, frame []byte) bool {
	c.mu.Lock()
	last, ok := c.subs[t]
	if !ok || c.closed || last == pending || v < last {
		c.mu.Unlock()
		return false
	}
	c.subs[t] = v
	c.enqueueLocked(frame, t)
	return true
}

// sameView reports whether a viewer holding a would see nothing new in b.
// Unlike Presence.Equal it notices last-seen appearing or disappearing
// while the user is online.
func sameView(a, b presence.Presence) bool {
	return a.Equal(b) && a.LastSeen.IsZero() == b.LastSeen.IsZero()
}

// preparePolicy lets a caching policy load the settings of ids at once.
func (h *Hub) preparePolicy(ctx context.Context, ids []string) error {
	if p, ok := h.cfg.Policy.(PolicyPreparer); ok {
		if err := p.Prepare(ctx, ids); err != nil {
			return h.unavailable(err)
		}
	}
	return nil
}
