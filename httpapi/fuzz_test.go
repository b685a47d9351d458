package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"github.com/presenced/presenced/server"
)

// FuzzBulkBody posts arbitrary bodies to POST /v1/presence/bulk of a real
// node. Every answer is 200 with a presences object, or a 4xx with the JSON
// error body; never a 5xx.
func FuzzBulkBody(f *testing.F) {
	for _, s := range []string{
		`{"user_ids":["alice","bob"]}`,
		" {\n\t\"user_ids\" : [ \"a\" , \"b:1\" ] } \n",
		`{"user_ids":[]}`,
		`{"user_ids":["a\"b","Zoë"]}`,
		`{"user_ids":["a"]} trailing`,
		`{"user_ids":["a",]}`,
		`{"user_ids":null}`,
		`{"user_ids":[1]}`,
		`{"user_ids":["a"],"user_ids":["b"]}`,
		`,,,,,,,,`,
		"{\"user_ids\":[\"\xff\"]}",
		``,
	} {
		f.Add([]byte(s))
	}
	dir, err := os.MkdirTemp("", "fuzz-httpapi-")
	if err != nil {
		f.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Dev: true, DataDir: dir, APIKey: "fuzz-key", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	srv.Start()
	defer func() { _ = srv.Shutdown(context.Background()) }()
	url := "http://" + srv.Addr() + "/v1/presence/bulk"
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer fuzz-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			var ok struct {
				Presences map[string]json.RawMessage `json:"presences"`
			}
			if err := json.Unmarshal(b, &ok); err != nil || ok.Presences == nil {
				t.Fatalf("200 with %q for %q", b, body)
			}
			return
		}
		var e struct{ Code, Message string }
		if resp.StatusCode >= 500 || json.Unmarshal(b, &e) != nil || e.Code == "" {
			t.Fatalf("%d %q for %q", resp.StatusCode, b, body)
		}
	})
}
