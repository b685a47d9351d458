package httpapi

import (
	"log/slog"
	"net/http"
	"path"

	"github.com/presenced/presenced/presence"
)

// Canonical serves only requests whose path is already clean (no "." or
// ".." segments, no repeated slashes) and answers any other with 404 and
// the JSON error. http.ServeMux would redirect such a path to its cleaned
// form, so GET /v1/presence/../users/alice/export led a client, or a proxy
// that filters by path prefix, to an endpoint it did not name. The path is
// judged escaped, as the mux matches it: a room named "a/../b" is
// requested as a%2F..%2Fb and stays one segment.
func Canonical(next http.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect && !isCanonical(r.URL.EscapedPath()) {
			writeError(w, log, presence.Errorf(presence.CodeNotFound, "no such path: paths must not hold \".\" or \"..\" segments or repeated slashes"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isCanonical(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	if p[len(p)-1] == '/' && clean != "/" {
		clean += "/"
	}
	return clean == p
}
