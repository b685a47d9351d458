package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// verify checks a delivery by the Standard Webhooks 1.0 specification,
// written here from the specification and not with the package's signer:
// the signed content is "<webhook-id>.<webhook-timestamp>.<body>", the
// signature HMAC-SHA256 under the base64-decoded part of the whsec_ secret,
// and webhook-signature a space-separated list of "v1,<base64>" entries of
// which one must match.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers: id %q timestamp %q signature %q", id, ts, sigs)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %v", ts, err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %d is %s from now", sec, d)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("content type %q", ct)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no signature in %q matches", sigs)
}

// delivery is one request the receiver got.
type delivery struct {
	header http.Header
	body   []byte
	msg    struct {
		ID     string `json:"id"`
		TimeMS int64  `json:"time_ms"`
		Events []struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			TimeMS   int64  `json:"time_ms"`
			UserID   string `json:"user_id"`
			Room     string `json:"room"`
			Presence *struct {
				Status string `json:"status"`
				V      uint64 `json:"v"`
			} `json:"presence"`
		} `json:"events"`
	}
}

// receiver is a real HTTP server that verifies every request's signature
// and answers as its respond function says (nil: 204).
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	calls  int
	// now is the receiver's clock for the timestamp check.
	now func() time.Time
	// respond returns the status for the n-th request (from 1); 0 hangs
	// until the client gives up.
	respond func(n int) int
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: secret, now: time.Now}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	if req.Method != http.MethodPost {
		r.t.Errorf("method %s", req.Method)
	}
	if err := verify(r.secret, req.Header, body, r.now()); err != nil {
		r.t.Errorf("signature: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	d := delivery{header: req.Header.Clone(), body: body}
	if err := json.Unmarshal(body, &d.msg); err != nil {
		r.t.Errorf("body %s: %v", body, err)
	}
	if d.msg.ID != req.Header.Get("webhook-id") {
		r.t.Errorf("body id %q, header id %q", d.msg.ID, req.Header.Get("webhook-id"))
	}
	r.mu.Lock()
	r.calls++
	n := r.calls
	status := http.StatusNoContent
	if r.respond != nil {
		status = r.respond(n)
	}
	if status == 0 {
		r.mu.Unlock()
		<-req.Context().Done()
		return
	}
	if status/100 == 2 {
		r.got = append(r.got, d)
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

// accepted returns the deliveries answered with 2xx so far.
func (r *receiver) accepted() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func (r *receiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}
