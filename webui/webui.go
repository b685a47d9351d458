// Package webui serves what a browser loads from a node: the JavaScript SDK
// bundle at /sdk/presenced.js (always), and the demo page at / (with --dev
// or --demo). Everything is embedded in the binary and served from memory
// with a strong ETag, so a page reloads its scripts with a 304.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"time"

	sdkjs "github.com/presenced/presenced/clients/js"
)

//go:embed demo
var demoFS embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
	// anyOrigin lets pages of every origin import the asset: a module
	// script from another origin loads only with CORS, and the bundle is
	// public.
	anyOrigin bool
}

func newAsset(body []byte, contentType string) *asset {
	sum := sha256.Sum256(body)
	return &asset{body: body, contentType: contentType, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`}
}

// cacheControl lets browsers keep an asset but ask again each time: the
// bundle changes with the server, and a revalidation costs one 304.
const cacheControl = "public, max-age=0, must-revalidate"

func (a *asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	if a.anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	// ServeContent answers If-None-Match against the ETag set above (304),
	// and HEAD and Range requests.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// SDK serves the SDK bundle.
func SDK() http.Handler { return sdk }

var sdk = func() *asset {
	a := newAsset(sdkjs.Bundle, "text/javascript; charset=utf-8")
	a.anyOrigin = true
	return a
}()

// Register adds the SDK route, and the demo's when demo is true.
func Register(mux *http.ServeMux, demo bool) {
	mux.Handle("GET /sdk/presenced.js", sdk)
	if !demo {
		return
	}
	for name, a := range demoAssets() {
		if name == "index.html" {
			mux.Handle("GET /{$}", a)
			continue
		}
		mux.Handle("GET /demo/"+name, a)
	}
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

func demoAssets() map[string]*asset {
	out := map[string]*asset{}
	entries, err := fs.ReadDir(demoFS, "demo")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	for _, e := range entries {
		body, err := demoFS.ReadFile("demo/" + e.Name())
		if err != nil {
			panic(err)
		}
		ct := contentTypes[path.Ext(e.Name())]
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[e.Name()] = newAsset(body, ct)
	}
	return out
}
