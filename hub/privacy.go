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
// needs: Refresh reloads userID's settings after they changed. The hub
// then compares each watcher's new level with the one it was last sent at.
type PolicyRefresher interface {
	Refresh(ctx context.Context, userID string) error
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
// status, last-seen. Only the counters stay: versions, so that watchers
// never see them go back (they see the user offline with nothing set), and
// kicks, so that no node revives a session the erasure ended. Room leaves
// the kick still owes stay too, until performed: they take the user out of
// the rooms. The caller erases the user's settings first.
func (h *Hub) Erase(ctx context.Context, userID string) error {
	if err := h.Kick(ctx, userID); err != nil {
		return err
	}
	return h.privacyUpdate(ctx, userID, func(st *presence.UserState) {
		*st = presence.UserState{UserID: userID, Version: st.Version, HiddenV: st.HiddenV, Kicks: st.Kicks,
			Leaves: st.Leaves, LeavesDue: st.LeavesDue}
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
	if err := h.refreshPolicy(ctx, userID); err != nil {
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
	h.applyPrivacy(userID, &record{p: p, hiddenV: st.HiddenV, wasInvisible: p.Invisible})
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

// refreshPolicy reloads userID's settings, if the policy keeps any.
func (h *Hub) refreshPolicy(ctx context.Context, userID string) error {
	if r, ok := h.cfg.Policy.(PolicyRefresher); ok {
		return r.Refresh(ctx, userID)
	}
	return nil
}

// receivePrivacy applies another node's privacy change to this node's
// watchers. The node that made the change applied it already.
func (h *Hub) receivePrivacy(name string, ev *event) {
	if ev.Node == h.cfg.Node {
		return
	}
	if err := h.refreshPolicy(context.Background(), name); err != nil {
		// The policy dropped what it had: the user stays hidden from
		// everyone here until their settings can be read.
		h.log.Error("privacy settings unreadable; hiding the user from this node's watchers", "user", name, "err", err)
	}
	h.applyPrivacy(name, &record{p: *ev.Presence, hiddenV: ev.HiddenV, wasInvisible: ev.Presence.Invisible})
}

// applyPrivacy brings every local watcher of userID to its view of rec (or
// of a newer record the node has) under the current settings, sending it
// only to those whose view changed, and re-sends to userID's own
// connections the users whose view their own settings altered (last-seen
// reciprocity). It serves privacy changes and re-reads alike: each watcher
// is compared with the level it was last sent at, so the result does not
// depend on whether the settings or the record reached this node first.
func (h *Hub) applyPrivacy(userID string, rec *record) {
	if t := h.topics.get(userID); t != nil {
		old := t.latest.Load()
		t.advance(rec)
		cur := t.latest.Load()
		if old == nil {
			// The user's first snapshot is being read: its watchers hold
			// cur or an older record; compare with cur.
			old = cur
		}
		level := h.levelsFor(userID)
		var frames viewFrames
		n := 0
		h.topics.eachWatcher(t, func(c *Client) {
			lvl := presence.LevelFull
			if c.UserID != userID {
				lvl = level(c.UserID)
			}
			if c.review(t, old, cur, lvl, &frames) {
				n++
			}
		})
		t.noteFanned(cur.p.V)
		h.m.Delivered(n)
	}
	h.clientMu.Lock()
	mine := append([]*Client(nil), h.byUser[userID]...)
	h.clientMu.Unlock()
	for _, c := range mine {
		h.reviewViews(c)
	}
}

// reviewViews re-sends to c every watched user whose view c's own settings
// change altered. The user's version did not move, so the same version is
// sent again with the new view; clients keep an update whose version is
// not lower than the one they have.
func (h *Hub) reviewViews(c *Client) {
	c.mu.Lock()
	topics := make([]*topic, 0, c.subs.Len())
	for t, last := range c.subs.All() {
		if last != awaitingSnapshot && t.name != c.UserID {
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
		var frames viewFrames
		if c.review(t, rec, rec, h.level(c.UserID, t.name), &frames) {
			n++
		}
	}
	h.m.Delivered(n)
}

// review brings c's view of t to cur at level lvl, where old is the record
// c's view was last computed from (a subscription past its snapshot always
// has one). c is sent the new view only if it differs from the one it
// holds — a change of level alone is sent at the version c has — and
// remembers lvl either way.
func (c *Client) review(t *topic, old, cur *record, lvl presence.Level, frames *viewFrames) bool {
	c.mu.Lock()
	last, ok := c.subs.Get(t)
	if !ok || c.closed || last == awaitingSnapshot || cur.p.V < last.v() {
		c.mu.Unlock()
		return false
	}
	self := c.UserID == t.name
	held, now := old.p, cur.p
	if !self {
		held, now = presence.View(old.p, old.hiddenV, last.level()), presence.View(cur.p, cur.hiddenV, lvl)
	}
	if sameView(held, now) {
		if lvl != last.level() {
			c.subs.Set(t, sentAt(last.v(), lvl))
		}
		c.mu.Unlock()
		return false
	}
	var frame []byte
	if self {
		frame = frames.at(presence.LevelFull, cur, true)
	} else {
		frame = frames.forLevel(lvl, last, cur)
	}
	c.subs.Set(t, sentAt(cur.p.V, lvl))
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
