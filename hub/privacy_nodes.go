package hub

import (
	"context"
	"encoding/json"
)

// kindSettings is the control event that a user's privacy settings
// changed. The change itself travels on the user's topic (kindPrivacy), in
// order with the user's presence, but only nodes watching the user hear
// it; every node may cache the user's settings for other reasons — the
// user is connected there (their own settings decide last-seen
// reciprocity) or the cache still holds them from an earlier use — so the
// control topic, which every node listens on, tells them all.
const kindSettings = "s"

// PolicyForgetter is an optional ability of a caching Policy: Forget drops
// what it keeps about userID, so that the next need reloads it.
type PolicyForgetter interface {
	Forget(userID string)
}

// announceSettings tells every other node that userID's settings changed.
func (h *Hub) announceSettings(ctx context.Context, userID string) {
	payload, err := json.Marshal(event{Kind: kindSettings, UserID: userID, Node: h.cfg.Node})
	if err == nil {
		err = h.cfg.Bus.Publish(ctx, controlTopic, payload)
	}
	if err != nil {
		h.log.Warn("announcing a privacy change failed; other nodes not watching the user may apply old settings until they reload them", "user", userID, "err", err)
	}
}

// receiveSettings brings this node's view of another node's settings
// change up to date. A watched user is left to the user's topic, which
// carries the change with the record its watchers need. A user connected
// here is reloaded and their own connections re-sent what their change
// altered; any other user is dropped from the cache, to be reloaded when
// needed.
func (h *Hub) receiveSettings(ev *event) {
	if ev.Node == h.cfg.Node || ev.UserID == "" || h.topics.get(ev.UserID) != nil {
		return
	}
	h.clientMu.Lock()
	mine := append([]*Client(nil), h.byUser[ev.UserID]...)
	h.clientMu.Unlock()
	if len(mine) == 0 {
		if f, ok := h.cfg.Policy.(PolicyForgetter); ok {
			f.Forget(ev.UserID)
		}
		return
	}
	if err := h.refreshPolicy(context.Background(), ev.UserID); err != nil {
		h.log.Error("privacy settings unreadable after a change on another node", "user", ev.UserID, "err", err)
		return
	}
	for _, c := range mine {
		h.reviewViews(c)
	}
}

// reloadPolicy reloads the settings of users whose topic subscription took
// effect or came back, before their state is re-read: a privacy change
// published before that was missed (and the control event announcing it
// was left to the topic). One store read per user; it runs only when a
// subscription starts or returns.
func (h *Hub) reloadPolicy(ids []string) error {
	for _, id := range ids {
		if err := h.refreshPolicy(context.Background(), id); err != nil {
			return err
		}
	}
	return nil
}
