package hub

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

var errClosed = errors.New("connection closed")

// Bus topics: one per watched user, and one control topic every node joins.
func busTopic(userID string) string { return "u:" + userID }

const controlTopic = "ctl"

// event is what travels on the bus.
type event struct {
	Kind         string             `json:"k"`
	Presence     *presence.Presence `json:"p,omitempty"`
	HiddenV      uint64             `json:"hv,omitempty"`
	WasInvisible bool               `json:"wi,omitempty"`
	UserID       string             `json:"u,omitempty"`
	// Node is the node that published the event.
	Node string `json:"n,omitempty"`
}

const (
	kindPresence = "p"
	kindKick     = "k"
)

// publish announces a user's new state to every node watching the user.
func (h *Hub) publish(ctx context.Context, st *presence.UserState, wasInvisible bool) {
	p := st.Fold()
	payload, err := json.Marshal(event{Kind: kindPresence, Presence: &p, HiddenV: st.HiddenV, WasInvisible: wasInvisible})
	if err == nil {
		err = h.cfg.Bus.Publish(ctx, busTopic(st.UserID), payload)
	}
	if err != nil {
		h.log.Warn("publish failed; watchers resync on their next snapshot", "user", st.UserID, "v", st.Version, "err", err)
	}
}

// receive handles a bus payload for a watched user; nil asks for a re-read.
func (h *Hub) receive(name string, payload []byte) {
	if payload == nil {
		h.resync(name)
		return
	}
	var ev event
	err := json.Unmarshal(payload, &ev)
	if err == nil && ev.Kind == kindPrivacy && ev.Presence != nil {
		h.receivePrivacy(name, &ev)
		return
	}
	if err != nil || ev.Kind != kindPresence || ev.Presence == nil {
		h.log.Warn("bad bus payload", "topic", name, "err", err)
		return
	}
	t := h.topics.get(name)
	if t == nil {
		return
	}
	h.fanout(t, &record{p: *ev.Presence, hiddenV: ev.HiddenV, wasInvisible: ev.WasInvisible})
}

// fanout sends rec to every local watcher of t through the watcher's view.
// Each view is encoded at most once and its bytes shared by every watcher.
func (h *Hub) fanout(t *topic, rec *record) {
	if !t.advance(rec) {
		h.m.Inc(h.m.Dropped, "stale")
		return
	}
	level := h.levelsFor(rec.p.UserID)
	var frames viewFrames
	n := 0
	h.topics.eachWatcher(t, func(c *Client) {
		lvl := presence.LevelFull
		if c.UserID != rec.p.UserID {
			lvl = level(c.UserID)
		}
		if c.deliver(t, rec, lvl, &frames) {
			n++
		}
	})
	t.noteFanned(rec.p.V)
	h.m.Delivered(n)
}

// viewFrames caches the encoded presence_update of each view of one record.
type viewFrames struct {
	full, noLastSeen, hidden, self []byte
}

// forViewer returns the frame viewer, at level lvl and last sent had,
// receives for rec, or nil when rec changes nothing they can see.
func (f *viewFrames) forViewer(viewer string, lvl presence.Level, had sent, rec *record) []byte {
	if viewer == rec.p.UserID {
		return f.at(presence.LevelFull, rec, true)
	}
	if rec.hiddenAt(lvl) && (had.level() == presence.LevelHidden || rec.wasInvisible) {
		// Hidden before and after: a hidden viewer learns nothing, not
		// even that the version moved.
		return nil
	}
	return f.forLevel(lvl, had, rec)
}

// forLevel returns the frame of rec's view at level lvl for a viewer last
// sent had. A viewer who saw the user and must now see them hidden is sent
// the hidden view at a version not below the one they have: the hidden
// version (moved by the privacy change that hid the user) is normally the
// newer, but the new settings may reach this node before that change's
// own event, and the view must not be dropped as older.
func (f *viewFrames) forLevel(lvl presence.Level, had sent, rec *record) []byte {
	if rec.hiddenAt(lvl) && rec.hiddenV < had.v() {
		return updateFrame(presence.Hidden(rec.p.UserID, had.v()))
	}
	return f.at(lvl, rec, false)
}

// at returns the encoded view of rec at level lvl (self: the real state).
func (f *viewFrames) at(lvl presence.Level, rec *record, self bool) []byte {
	slot := &f.full
	switch {
	case self:
		slot = &f.self
	case rec.hiddenAt(lvl):
		slot = &f.hidden
	case lvl == presence.LevelNoLastSeen:
		slot = &f.noLastSeen
	}
	if *slot == nil {
		if self {
			*slot = updateFrame(rec.p)
		} else {
			*slot = updateFrame(presence.View(rec.p, rec.hiddenV, lvl))
		}
	}
	return *slot
}

// hiddenAt reports whether a viewer at level lvl sees rec's user hidden.
func (rec *record) hiddenAt(lvl presence.Level) bool {
	return lvl == presence.LevelHidden || rec.p.Invisible
}

func (h *Hub) level(viewer, target string) presence.Level {
	if h.cfg.Policy == nil {
		return presence.LevelFull
	}
	return h.cfg.Policy.Level(viewer, target)
}

// viewerLevel is level for any viewer: the user themselves and "" (a
// trusted backend) see the real presence.
func (h *Hub) viewerLevel(viewer, target string) presence.Level {
	if viewer == "" || viewer == target {
		return presence.LevelFull
	}
	return h.level(viewer, target)
}

// view returns what viewer sees of rec; viewer "" is a trusted backend that
// sees the real presence.
func (h *Hub) view(viewer string, rec *record) presence.Presence {
	return viewAt(viewer, h.viewerLevel(viewer, rec.p.UserID), rec)
}

// viewAt returns what viewer sees of rec at level lvl (from viewerLevel).
func viewAt(viewer string, lvl presence.Level, rec *record) presence.Presence {
	if viewer == "" || viewer == rec.p.UserID {
		return rec.p
	}
	return presence.View(rec.p, rec.hiddenV, lvl)
}

func updateFrame(p presence.Presence) []byte {
	b := make([]byte, 0, 320)
	b = append(b, `{"type":"`+protocol.TypePresenceUpdate+`","presence":`...)
	b = p.AppendJSON(b)
	return append(b, '}')
}
