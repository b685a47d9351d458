package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestNonCanonicalPathsAreNotFound: a path the mux would clean is refused
// with 404 and the JSON error, never redirected to the endpoint it hides.
func TestNonCanonicalPathsAreNotFound(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/users/{user_id}/export", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "export") })
	mux.HandleFunc("GET /v1/rooms/{room}/count", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.PathValue("room")) })
	mux.HandleFunc("GET /sdk/", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "sdk") })
	srv := httptest.NewServer(Canonical(mux, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, []byte) {
		t.Helper()
		// A raw request line: net/url would clean nothing, but a client
		// library might; the server must not rely on either.
		req, err := http.NewRequest("GET", srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = path
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	for _, p := range []string{
		"/v1/presence/../users/alice/export",
		"/v1/users/alice/./export",
		"/v1/users//alice/export",
		"/sdk/../v1/users/alice/export",
		"/sdk/./",
	} {
		code, body := get(p)
		var e struct{ Code, Message string }
		if code != http.StatusNotFound || json.Unmarshal(body, &e) != nil || e.Code != "not_found" || e.Message == "" {
			t.Errorf("GET %s = %d %s, want 404 not_found", p, code, body)
		}
	}
	for p, want := range map[string]string{
		"/v1/users/alice/export": "export", "/sdk/": "sdk", "/sdk/x.js": "sdk",
		// Escaped slashes and dots are part of one segment: room names.
		"/v1/rooms/a%2F..%2Fb/count": "a/../b", "/v1/rooms/x%2F%2Fy/count": "x//y", "/v1/rooms/%2E%2E/count": "..",
	} {
		if code, body := get(p); code != 200 || string(body) != want {
			t.Errorf("GET %s = %d %s, want 200 %s", p, code, body, want)
		}
	}
}
