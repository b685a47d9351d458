// Package webui serves what a browser loads from a node: the JavaScript SDK
// bundle at /sdk/presenced.js (always), and the demo page at / (with --dev
// or --demo). Everything is embedded in the binary and served from memory
// with a strong ETag, so a page reloads its scripts with a 304.
package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
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
	// gz is body compressed once at start, sent to clients that accept
	// gzip: what travels is the min+gzip size the budget counts.
	gz     []byte
	gzETag string
	// anyOrigin lets pages of every origin import the asset: a module
	// script from another origin loads only with CORS, and the bundle is
	// public.
	anyOrigin bool
}

func newAsset(body []byte, contentType string) *asset {
	sum := sha256.Sum256(body)
	tag := base64.RawURLEncoding.EncodeToString(sum[:18])
	a := &asset{body: body, contentType: contentType, etag: `"` + tag + `"`}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(body)                                    // writes to memory cannot fail
	_ = zw.Close()
	if buf.Len() < len(body) {
		a.gz, a.gzETag = buf.Bytes(), `"`+tag+`-gz"`
	}
	return a
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// cacheControl lets browsers keep an asset but ask again each time: the
// bundle changes with the server, and a revalidation costs one 304.
const cacheControl = "public, max-age=0, must-revalidate"

func (a *asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	body, etag := a.body, a.etag
	if a.gz != nil {
		h.Set("Vary", "Accept-Encoding")
		// Range requests get the identity body: byte offsets of a gzip
		// stream mean nothing to a client that asked for the file's bytes.
		if acceptsGzip(r) && r.Header.Get("Range") == "" {
			body, etag = a.gz, a.gzETag
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	h.Set("Cache-Control", cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	if a.anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	// ServeContent answers If-None-Match against the ETag set above (304),
	// and HEAD and Range requests.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
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
