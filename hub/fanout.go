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
	frames := viewFrames{level: h.levelsFor(rec.p.UserID)}
	s := h.topics.shard(t.name)
	s.mu.RLock()
	n := 0
	for c := range t.subs {
		frame := frames.forViewer(c.UserID, rec)
		if frame != nil && c.deliver(t, rec.p.V, frame) {
			n++
		}
	}
	s.mu.RUnlock()
	h.m.Delivered(n)
}

// viewFrames caches the encoded presence_update of each view of one record.
type viewFrames struct {
	level                          func(viewer string) presence.Level
	full, noLastSeen, hidden, self []byte
}

// forViewer returns the frame viewer receives for rec, or nil when the
// viewer must receive nothing: rec changed nothing they can see.
func (f *viewFrames) forViewer(viewer string, rec *record) []byte {
	if viewer == rec.p.UserID {
		if f.self == nil {
			f.self = updateFrame(rec.p)
		}
		return f.self
	}
	lvl := f.level(viewer)
	switch {
	case lvl == presence.LevelHidden:
		// Hidden before and after: privacy changes push their own updates.
		return nil
	case rec.p.Invisible:
		if rec.wasInvisible {
			return nil
		}
		if f.hidden == nil {
			f.hidden = updateFrame(presence.View(rec.p, rec.hiddenV, lvl))
		}
		return f.hidden
	case lvl == presence.LevelNoLastSeen:
		if f.noLastSeen == nil {
			f.noLastSeen = updateFrame(presence.View(rec.p, rec.hiddenV, lvl))
		}
		return f.noLastSeen
	default:
		if f.full == nil {
			f.full = updateFrame(rec.p)
		}
		return f.full
	}
}

func (h *Hub) level(viewer, target string) presence.Level {
	if h.cfg.Policy == nil {
		return presence.LevelFull
	}
	return h.cfg.Policy.Level(viewer, target)
}

// view returns what viewer sees of rec; viewer "" is a trusted backend that
// sees the real presence.
func (h *Hub) view(viewer string, rec *record) presence.Presence {
	if viewer == "" || viewer == rec.p.UserID {
		return rec.p
	}
	return presence.View(rec.p, rec.hiddenV, h.level(viewer, rec.p.UserID))
}

func updateFrame(p presence.Presence) []byte {
	b := make([]byte, 0, 320)
	b = append(b, `{"type":"`+protocol.TypePresenceUpdate+`","presence":`...)
	b = p.AppendJSON(b)
	return append(b, '}')
}
