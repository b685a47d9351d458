package webui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdkjs "github.com/presenced/presenced/clients/js"
)

func serve(t *testing.T, demo bool, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	Register(mux, demo)
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

func TestSDKServedWithETag(t *testing.T) {
	rec := serve(t, false, "GET", "/sdk/presenced.js", nil)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Fatalf("Content-Type %q", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), sdkjs.Bundle) || len(sdkjs.Bundle) == 0 {
		t.Fatalf("body is not the bundle (%d bytes)", rec.Body.Len())
	}
	if cc := rec.Header().Get("Cache-Control"); cc != cacheControl {
		t.Fatalf("Cache-Control %q", cc)
	}
	if o := rec.Header().Get("Access-Control-Allow-Origin"); o != "*" {
		t.Fatalf("Access-Control-Allow-Origin %q: pages of other origins cannot import the bundle", o)
	}
	etag := rec.Header().Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag %q", etag)
	}
	again := serve(t, false, "GET", "/sdk/presenced.js", map[string]string{"If-None-Match": etag})
	if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Fatalf("If-None-Match: status %d, %d bytes", again.Code, again.Body.Len())
	}
	other := serve(t, false, "GET", "/sdk/presenced.js", map[string]string{"If-None-Match": `"stale"`})
	if other.Code != 200 {
		t.Fatalf("a stale ETag: status %d", other.Code)
	}
	if post := serve(t, false, "POST", "/sdk/presenced.js", nil); post.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: status %d", post.Code)
	}
}

func TestDemoOnlyWhenAsked(t *testing.T) {
	if rec := serve(t, false, "GET", "/", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("without demo, / is %d", rec.Code)
	}
	rec := serve(t, true, "GET", "/", nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("demo /: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("the demo page is served to every origin")
	}
	if !strings.Contains(rec.Body.String(), "/demo/app.js") {
		t.Fatal("the demo page does not load the SDK")
	}
	for name := range demoAssets() {
		if name == "index.html" {
			continue
		}
		if rec := serve(t, true, "GET", "/demo/"+name, nil); rec.Code != 200 {
			t.Fatalf("/demo/%s: %d", name, rec.Code)
		}
	}
	if rec := serve(t, true, "GET", "/nothing-here", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("an unknown path is %d", rec.Code)
	}
}

func TestSDKGzipped(t *testing.T) {
	rec := serve(t, false, "GET", "/sdk/presenced.js", map[string]string{"Accept-Encoding": "br, gzip"})
	if rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("Content-Encoding %q, Vary %q", rec.Header().Get("Content-Encoding"), rec.Header().Get("Vary"))
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, sdkjs.Bundle) {
		t.Fatalf("the gzip body is not the bundle: %v", err)
	}
	etag := rec.Header().Get("ETag")
	if etag == serve(t, false, "GET", "/sdk/presenced.js", nil).Header().Get("ETag") {
		t.Fatal("the gzip and identity bodies share an ETag")
	}
	if again := serve(t, false, "GET", "/sdk/presenced.js", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etag}); again.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match on the gzip body: %d", again.Code)
	}
	for _, ae := range []string{"", "gzip;q=0", "br"} {
		if rec := serve(t, false, "GET", "/sdk/presenced.js", map[string]string{"Accept-Encoding": ae}); rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), sdkjs.Bundle) {
			t.Fatalf("Accept-Encoding %q: got an encoded body", ae)
		}
	}
	ranged := serve(t, false, "GET", "/sdk/presenced.js", map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
	if ranged.Code != http.StatusPartialContent || ranged.Header().Get("Content-Encoding") != "" || !bytes.Equal(ranged.Body.Bytes(), sdkjs.Bundle[:10]) {
		t.Fatalf("a range request: %d %q", ranged.Code, ranged.Header().Get("Content-Encoding"))
	}
}
