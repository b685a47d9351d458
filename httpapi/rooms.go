package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
)

// registerRooms adds the room reads. The API key reads everything; a
// user's token reads the rooms the user is in, and the user's own rooms.
func (a *API) registerRooms(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/rooms/{room}/members", a.roomMembers)
	mux.HandleFunc("GET /v1/rooms/{room}/count", a.roomCount)
	mux.HandleFunc("GET /v1/users/{user_id}/rooms", a.userRooms)
}

func (a *API) roomMembers(w http.ResponseWriter, r *http.Request) {
	viewer, err := a.caller(r)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	q := r.URL.Query()
	var limit *int
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			writeError(w, a.log, presence.Errorf(presence.CodeInvalidArgument, "limit must be a number"))
			return
		}
		limit = &n
	}
	n, err := hub.ParseRoomLimit(limit)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	body, err := a.cfg.Hub.RoomMembers(r.Context(), viewer, r.PathValue("room"), q.Get("after"), n)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeRaw(w, body)
}

func (a *API) roomCount(w http.ResponseWriter, r *http.Request) {
	viewer, err := a.caller(r)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	body, err := a.cfg.Hub.RoomCount(r.Context(), viewer, r.PathValue("room"))
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeRaw(w, body)
}

func (a *API) userRooms(w http.ResponseWriter, r *http.Request) {
	viewer, err := a.caller(r)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	id := r.PathValue("user_id")
	rooms, err := a.cfg.Hub.UserRooms(r.Context(), viewer, id)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		UserID string   `json:"user_id"`
		Rooms  []string `json:"rooms"`
	}{id, rooms})
}

// writeRaw writes an encoded JSON body with 200.
func writeRaw(w http.ResponseWriter, body json.RawMessage) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}
