package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced/server"
)

// TestWebRoutes checks what a browser can load from a node: the SDK always,
// the demo page only with --dev or --demo.
func TestWebRoutes(t *testing.T) {
	cases := []struct {
		name      string
		dev, demo bool
		wantDemo  bool
	}{
		{"production", false, false, false},
		{"demo", false, true, true},
		{"dev", true, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, func(c *server.Config) { c.Dev, c.Demo = tc.dev, tc.demo })
			get := func(path string) *http.Response {
				t.Helper()
				r, err := http.Get(h.base + path)
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				return r
			}
			sdk := get("/sdk/presenced.js")
			if sdk.StatusCode != 200 || !strings.HasPrefix(sdk.Header.Get("Content-Type"), "text/javascript") {
				t.Fatalf("/sdk/presenced.js: %d %q", sdk.StatusCode, sdk.Header.Get("Content-Type"))
			}
			page := get("/")
			if got := page.StatusCode == 200; got != tc.wantDemo {
				t.Fatalf("/ is %d with dev=%v demo=%v", page.StatusCode, tc.dev, tc.demo)
			}
			if tc.wantDemo && get("/demo/app.js").StatusCode != 200 {
				t.Fatal("/demo/app.js missing")
			}
		})
	}
}
