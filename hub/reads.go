package hub

import (
	"context"
	"encoding/json"

	"github.com/presenced/presenced/presence"
)

// readPresences is the one path of every presence read (HTTP reads,
// get_presence): it checks userIDs, drops repeats, prepares viewer's
// privacy rules, reads the store once and calls each with every user's
// view, in the order of the request. viewer "" is a trusted backend and
// sees the real state; unknown users are offline with no last-seen.
func (h *Hub) readPresences(ctx context.Context, viewer string, userIDs []string, each func(p *presence.Presence)) error {
	if err := checkIDs(userIDs); err != nil {
		return err
	}
	ids := dedupe(userIDs)
	if viewer != "" {
		if err := h.preparePolicy(ctx, append([]string{viewer}, ids...)); err != nil {
			return err
		}
	}
	view := func(id string, stored *presence.UserState) {
		var st presence.UserState
		if stored != nil {
			st = *stored
		}
		st.UserID = id
		p := h.view(viewer, &record{p: st.Fold(), hiddenV: st.HiddenV})
		each(&p)
	}
	if r, ok := h.cfg.Store.(StateReader); ok {
		if err := r.ReadStates(ctx, ids, view); err != nil {
			return h.unavailable(err)
		}
		return nil
	}
	states, err := h.cfg.Store.Load(ctx, ids)
	if err != nil {
		return h.unavailable(err)
	}
	for _, id := range ids {
		if st, ok := states[id]; ok {
			view(id, &st)
		} else {
			view(id, nil)
		}
	}
	return nil
}

// Presences returns the presences of userIDs as viewer may see them,
// keyed by user id.
func (h *Hub) Presences(ctx context.Context, viewer string, userIDs []string) (map[string]presence.Presence, error) {
	out := make(map[string]presence.Presence, len(userIDs))
	err := h.readPresences(ctx, viewer, userIDs, func(p *presence.Presence) { out[p.UserID] = *p })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AppendPresencesJSON appends {"user_id":{presence},…} for userIDs as
// viewer may see them without building a map or slice first: a bulk read
// encodes up to 1,000 presences per request, and the intermediate map was a
// third of its allocations.
func (h *Hub) AppendPresencesJSON(ctx context.Context, viewer string, userIDs []string, b []byte) ([]byte, error) {
	b = append(b, '{')
	first := true
	err := h.readPresences(ctx, viewer, userIDs, func(p *presence.Presence) {
		b = appendMember(b, first, p.UserID, p)
		first = false
	})
	return append(b, '}'), err
}

// PresenceReply reads userIDs as viewer may see them and encodes the
// reply of the given type ({"type":…,"id":…,"presences":{…}}), in request
// order.
func (h *Hub) PresenceReply(ctx context.Context, viewer, typ string, reqID json.RawMessage, userIDs []string) ([]byte, error) {
	b := appendFrameHead(make([]byte, 0, 64+len(userIDs)*280), typ, reqID)
	b, err := h.AppendPresencesJSON(ctx, viewer, userIDs, b)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// EncodePresences encodes a reply of the given type carrying views, in
// their order. Subscribe's snapshot and tools that build frames use it.
func EncodePresences(typ string, reqID json.RawMessage, views []presence.Presence) []byte {
	b := appendFrameHead(make([]byte, 0, 64+len(views)*280), typ, reqID)
	b = append(b, '{')
	for i := range views {
		b = appendMember(b, i == 0, views[i].UserID, &views[i])
	}
	return append(b, "}}"...)
}

// appendFrameHead appends {"type":typ,"id":reqID,"presences": .
func appendFrameHead(b []byte, typ string, reqID json.RawMessage) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if len(reqID) > 0 {
		b = append(b, `,"id":`...)
		b = append(b, reqID...)
	}
	return append(b, `,"presences":`...)
}
