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
	mux.HandleFunc("GET /v1/rooms/{room}/members", a.read(func(viewer string, r *http.Request) ([]byte, error) {
		limit, err := queryLimit(r)
		if err != nil {
			return nil, err
		}
		return a.cfg.Hub.RoomMembers(r.Context(), viewer, r.PathValue("room"), r.URL.Query().Get("after"), limit)
	}))
	mux.HandleFunc("GET /v1/rooms/{room}/count", a.read(func(viewer string, r *http.Request) ([]byte, error) {
		return a.cfg.Hub.RoomCount(r.Context(), viewer, r.PathValue("room"))
	}))
	mux.HandleFunc("GET /v1/users/{user_id}/rooms", a.read(func(viewer string, r *http.Request) ([]byte, error) {
		id := r.PathValue("user_id")
		rooms, err := a.cfg.Hub.UserRooms(r.Context(), viewer, id)
		if err != nil {
			return nil, err
		}
		return json.Marshal(struct {
			UserID string   `json:"user_id"`
			Rooms  []string `json:"rooms"`
		}{id, rooms})
	}))
}

// read serves a read that either the API key (viewer "") or a user's token
// may make: fn returns the JSON body.
func (a *API) read(fn func(viewer string, r *http.Request) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		viewer, err := a.caller(r)
		if err == nil {
			var body []byte
			if body, err = fn(viewer, r); err == nil {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(append(body, '\n'))
				return
			}
		}
		writeError(w, a.log, err)
	}
}

func queryLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return hub.ParseRoomLimit(nil)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, presence.Errorf(presence.CodeInvalidArgument, "limit must be a number between 1 and %d", hub.MaxRoomPage)
	}
	return hub.ParseRoomLimit(&n)
}
