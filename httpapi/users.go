package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
	"github.com/presenced/presenced/protocol"
)

// registerUsers adds the per-user settings endpoints: privacy, contacts,
// blocks, erase and export. All need the API key: an application's
// backend owns its social graph and acts for its users.
func (a *API) registerUsers(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/users/{user_id}/privacy", a.backendOnly(a.getPrivacy))
	mux.HandleFunc("PUT /v1/users/{user_id}/privacy", a.backendOnly(a.putPrivacy))
	for _, l := range []privacy.List{privacy.ContactsList, privacy.BlocksList} {
		base := "/v1/users/{user_id}/" + string(l)
		mux.HandleFunc("GET "+base, a.backendOnly(a.getList(l)))
		mux.HandleFunc("PUT "+base, a.backendOnly(a.editList(l, privacy.Replace)))
		mux.HandleFunc("POST "+base, a.backendOnly(a.editList(l, privacy.Add)))
		mux.HandleFunc("DELETE "+base+"/{member}", a.backendOnly(a.removeMember(l)))
	}
	mux.HandleFunc("DELETE /v1/users/{user_id}", a.backendOnly(a.deleteUser))
	mux.HandleFunc("GET /v1/users/{user_id}/export", a.backendOnly(a.export))
}

func (a *API) privacyService(w http.ResponseWriter) *privacy.Service {
	if a.cfg.Privacy == nil {
		writeError(w, a.log, presence.Errorf(presence.CodeUnavailable, "privacy settings are not enabled on this server"))
	}
	return a.cfg.Privacy
}

func (a *API) getPrivacy(w http.ResponseWriter, r *http.Request) {
	sv := a.privacyService(w)
	if sv == nil {
		return
	}
	p, err := sv.InEffect(r.Context(), a.cfg.Hub, r.PathValue("user_id"))
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *API) putPrivacy(w http.ResponseWriter, r *http.Request) {
	sv := a.privacyService(w)
	if sv == nil {
		return
	}
	var msg protocol.ClientMessage
	if err := decode(r, &msg); err != nil {
		writeError(w, a.log, err)
		return
	}
	id := r.PathValue("user_id")
	if err := sv.ApplyMessage(r.Context(), a.cfg.Hub, id, &msg); err != nil {
		writeError(w, a.log, err)
		return
	}
	a.getPrivacy(w, r)
}

var _ privacy.Invisibility = (*hub.Hub)(nil)

// listBody is the body of the contacts and blocks endpoints; the key is
// the list's name.
func listBody(l privacy.List, s privacy.Settings) map[string][]string {
	ids := s.Contacts
	if l == privacy.BlocksList {
		ids = s.Blocks
	}
	if ids == nil {
		ids = []string{}
	}
	return map[string][]string{string(l): ids}
}

func (a *API) getList(l privacy.List) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sv := a.privacyService(w)
		if sv == nil {
			return
		}
		s, err := sv.Settings(r.Context(), r.PathValue("user_id"))
		if err != nil {
			writeError(w, a.log, err)
			return
		}
		writeJSON(w, http.StatusOK, listBody(l, s))
	}
}

func (a *API) editList(l privacy.List, op privacy.Op) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sv := a.privacyService(w)
		if sv == nil {
			return
		}
		var body map[string]json.RawMessage
		if err := decode(r, &body); err != nil {
			writeError(w, a.log, err)
			return
		}
		var ids []string
		raw, ok := body[string(l)]
		if !ok {
			writeError(w, a.log, presence.Errorf(presence.CodeInvalidArgument, "body needs {\"%s\":[user ids]}", l))
			return
		}
		if err := json.Unmarshal(raw, &ids); err != nil {
			writeError(w, a.log, presence.Errorf(presence.CodeInvalidArgument, "%s must be an array of user ids", l))
			return
		}
		if ids == nil {
			ids = []string{}
		}
		s, err := sv.Edit(r.Context(), r.PathValue("user_id"), l, op, ids)
		if err != nil {
			writeError(w, a.log, err)
			return
		}
		writeJSON(w, http.StatusOK, listBody(l, s))
	}
}

func (a *API) removeMember(l privacy.List) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sv := a.privacyService(w)
		if sv == nil {
			return
		}
		if _, err := sv.Edit(r.Context(), r.PathValue("user_id"), l, privacy.Remove, []string{r.PathValue("member")}); err != nil {
			writeError(w, a.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// deleteUser erases everything stored about a user: their sessions end,
// then their settings and their presence record are erased.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	sv := a.privacyService(w)
	if sv == nil {
		return
	}
	id := r.PathValue("user_id")
	if err := sv.Delete(r.Context(), id); err != nil {
		writeError(w, a.log, err)
		return
	}
	if err := a.cfg.Hub.Erase(r.Context(), id); err != nil {
		writeError(w, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// exportBody is everything stored about a user.
type exportBody struct {
	UserID string `json:"user_id"`
	// Presence is the user's real presence, as their own sessions see it.
	Presence presence.Presence `json:"presence"`
	// State is the stored presence record: sessions, statuses, expiries.
	State    any              `json:"state"`
	Privacy  protocol.Privacy `json:"privacy"`
	Contacts []string         `json:"contacts"`
	Blocks   []string         `json:"blocks"`
}

func (a *API) export(w http.ResponseWriter, r *http.Request) {
	sv := a.privacyService(w)
	if sv == nil {
		return
	}
	id := r.PathValue("user_id")
	st, err := a.cfg.Hub.State(r.Context(), id)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	s, err := sv.Settings(r.Context(), id)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	vis, ls := sv.Rules.Effective(&s)
	out := exportBody{
		UserID: id, Presence: st.Fold(), State: st,
		Privacy:  protocol.Privacy{Visibility: string(vis), LastSeenVisibility: string(ls), Invisible: st.Invisible},
		Contacts: listBody(privacy.ContactsList, s)["contacts"], Blocks: listBody(privacy.BlocksList, s)["blocks"],
	}
	writeJSON(w, http.StatusOK, out)
}
