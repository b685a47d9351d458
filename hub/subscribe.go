package hub

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// Subscribe makes c watch userIDs and queues their snapshot as one
// initial_presence (carrying reqID). Every update queued after it is newer
// than the snapshot; none older ever follows it.
func (h *Hub) Subscribe(ctx context.Context, c *Client, userIDs []string, reqID json.RawMessage) error {
	if err := checkIDs(userIDs); err != nil {
		return err
	}
	ids := dedupe(userIDs)
	c.mu.Lock()
	fresh := 0
	for _, id := range ids {
		if t := h.topics.get(id); t == nil || !c.watchesLocked(t) {
			fresh++
		}
	}
	total := c.subs.Len() + fresh
	if total <= h.cfg.MaxSubscriptions {
		c.subs.Grow(fresh)
	}
	c.mu.Unlock()
	if total > h.cfg.MaxSubscriptions {
		return presence.Errorf(presence.CodeLimitExceeded, "a connection may watch at most %d users; this would make %d", h.cfg.MaxSubscriptions, total)
	}
	if !h.watching.reserve(c.UserID, fresh, h.cfg.MaxWatchedPerUser) {
		h.m.Inc(h.m.Refused, "watched_per_user")
		return presence.Errorf(presence.CodeLimitExceeded, "a user may watch at most %d users across their connections on this node; this would make %d",
			h.cfg.MaxWatchedPerUser, h.watching.count(c.UserID)+fresh)
	}
	made := 0
	defer func() { h.watching.release(c.UserID, fresh-made) }() // what was reserved and not made

	if err := h.preparePolicy(ctx, append([]string{c.UserID}, ids...)); err != nil {
		return err
	}
	// A failure undoes only what this request added: the ids c watched
	// before stay watched and keep receiving updates.
	topics := make([]*topic, 0, len(ids))
	var added []*topic
	var missing []string
	for _, id := range ids {
		t, isNew, err := h.watch(c, id)
		if err != nil {
			h.unwatchAll(c, added)
			if err == errClosed {
				return nil
			}
			return err
		}
		topics = append(topics, t)
		if isNew {
			made++
			added = append(added, t)
		}
		if t.latest.Load() == nil {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		states, err := h.cfg.Store.Load(ctx, missing)
		if err != nil {
			h.unwatchAll(c, added)
			return h.unavailable(err)
		}
		for _, id := range missing {
			st := states[id]
			st.UserID = id
			p := st.Fold()
			h.topics.get(id).advanceOrInit(&record{p: p, hiddenV: st.HiddenV})
		}
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	views := make([]presence.Presence, len(topics))
	for i, t := range topics {
		rec := t.latest.Load()
		lvl := h.viewerLevel(c.UserID, t.name)
		if c.watchesLocked(t) {
			c.subs.Set(t, sentAt(rec.p.V, lvl))
		}
		views[i] = viewAt(c.UserID, lvl, rec)
	}
	c.enqueueLocked(EncodePresences(protocol.TypeInitialPresence, reqID, views), nil)
	return nil
}

// advanceOrInit is advance for a snapshot read from the store: a record at
// version 0 (a user never seen) still fills an empty topic.
func (t *topic) advanceOrInit(rec *record) {
	if !t.advance(rec) && t.latest.CompareAndSwap(nil, rec) {
		// A user first read from the store: nothing up to rec is owed to
		// any watcher.
		t.noteFanned(rec.p.V)
	}
}

func (c *Client) watchesLocked(t *topic) bool {
	_, ok := c.subs.Get(t)
	return ok
}

// Unsubscribe stops c watching userIDs. Ids it does not watch are ignored.
func (h *Hub) Unsubscribe(c *Client, userIDs []string) error {
	if err := checkIDs(userIDs); err != nil {
		return err
	}
	var topics []*topic
	c.mu.Lock()
	for _, id := range userIDs {
		if t := h.topics.get(id); t != nil && c.watchesLocked(t) {
			c.subs.Delete(t)
			topics = append(topics, t)
		}
	}
	c.mu.Unlock()
	h.watching.release(c.UserID, len(topics))
	for _, t := range topics {
		h.unwatch(c, t)
	}
	return nil
}

func (h *Hub) unwatchAll(c *Client, topics []*topic) {
	c.mu.Lock()
	n := 0
	for _, t := range topics {
		if c.watchesLocked(t) {
			c.subs.Delete(t)
			n++
		}
	}
	c.mu.Unlock()
	h.watching.release(c.UserID, n)
	for _, t := range topics {
		h.unwatch(c, t)
	}
}

// appendMember appends "id":{presence} to a JSON object being written,
// after a comma unless it is the first member.
func appendMember(b []byte, first bool, id string, p *presence.Presence) []byte {
	if !first {
		b = append(b, ',')
	}
	b = presence.AppendString(b, id)
	b = append(b, ':')
	return p.AppendJSON(b)
}

func checkIDs(ids []string) error {
	if len(ids) == 0 {
		return presence.Errorf(presence.CodeInvalidArgument, "user_ids must list at least one user")
	}
	if len(ids) > protocol.MaxIDsPerRequest {
		return presence.Errorf(presence.CodeLimitExceeded, "at most %d user_ids per request, got %d", protocol.MaxIDsPerRequest, len(ids))
	}
	for _, id := range ids {
		if err := presence.ValidateUserID(id); err != nil {
			return err
		}
	}
	return nil
}

// dedupe returns ids without repeats, in order: ids itself when it has
// none (the usual case), so a bulk read of 1,000 ids allocates nothing here.
func dedupe(ids []string) []string {
	if len(ids) < 2 {
		return ids
	}
	seen := seenSets.Get().(map[string]struct{})
	defer func() {
		clear(seen)
		seenSets.Put(seen)
	}()
	var out []string
	for i, id := range ids {
		if _, dup := seen[id]; dup {
			if out == nil {
				out = append(make([]string, 0, len(ids)-1), ids[:i]...)
			}
			continue
		}
		seen[id] = struct{}{}
		if out != nil {
			out = append(out, id)
		}
	}
	if out == nil {
		return ids
	}
	return out
}

var seenSets = sync.Pool{New: func() any { return make(map[string]struct{}) }}

// unavailable turns a store failure into the error clients see; the cause
// goes to the log only.
func (h *Hub) unavailable(err error) error {
	if _, ok := err.(*presence.Error); ok {
		return err
	}
	h.log.Error("store failure", "err", err)
	return presence.Errorf(presence.CodeUnavailable, "presence store is unavailable; retry later")
}
