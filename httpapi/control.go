package httpapi

import (
	"context"
	"net/http"

	"github.com/presenced/presenced/presence"
)

// Stats is the body of GET /v1/stats. A null figure is one the node
// cannot give exactly in its deployment.
type Stats struct {
	OnlineUsers     *int64 `json:"online_users"`
	Sessions        *int64 `json:"sessions"`
	Connections     *int64 `json:"connections"`
	Rooms           int64  `json:"rooms"`
	NodeConnections int64  `json:"node_connections"`
}

// registerControl adds the backend's room control and live stats.
func (a *API) registerControl(mux *http.ServeMux) {
	mux.HandleFunc("DELETE /v1/rooms/{room}/members/{user_id}", a.backendOnly(func(w http.ResponseWriter, r *http.Request) {
		if err := a.cfg.Hub.RemoveRoomMember(r.Context(), r.PathValue("room"), r.PathValue("user_id")); err != nil {
			writeError(w, a.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /v1/rooms", a.backendOnly(func(w http.ResponseWriter, r *http.Request) {
		limit, err := queryLimit(r)
		if err == nil {
			var body []byte
			q := r.URL.Query()
			if body, err = a.cfg.Hub.ListRooms(r.Context(), q.Get("prefix"), q.Get("after"), limit); err == nil {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(append(body, '\n'))
				return
			}
		}
		writeError(w, a.log, err)
	}))
	mux.HandleFunc("GET /v1/stats", a.backendOnly(func(w http.ResponseWriter, r *http.Request) {
		stats := a.cfg.Stats
		if stats == nil {
			stats = func(context.Context) (Stats, error) {
				return Stats{}, presence.Errorf(presence.CodeUnavailable, "stats are not served by this node")
			}
		}
		st, err := stats(r.Context())
		if err != nil {
			writeError(w, a.log, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}))
}
