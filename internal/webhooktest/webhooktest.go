// Package webhooktest is a webhook receiver for tests: a real HTTP server
// that checks every delivery's signature with its own implementation of
// the Standard Webhooks specification, independent of package webhook.
package webhooktest

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

// Verify checks a delivery by the Standard Webhooks 1.0 specification,
// written here from the specification and not with the package's signer:
// the signed content is "<webhook-id>.<webhook-timestamp>.<body>", the
// signature HMAC-SHA256 under the base64-decoded part of the whsec_ secret,
// and webhook-signature a space-separated list of "v1,<base64>" entries of
// which one must match.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
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

// Delivery is one request the receiver got.
type Delivery struct {
	Header http.Header
	Body   []byte
	Msg    Message
}

// Message is the body of a delivery.
type Message struct {
	ID     string  `json:"id"`
	TimeMS int64   `json:"time_ms"`
	Events []Event `json:"events"`
}

// Receiver is a real HTTP server that verifies every request's signature
// and answers as its Respond function says (nil: 204).
type Receiver struct {
	t      *testing.T
	secret string
	Server *httptest.Server
	mu     sync.Mutex
	got    []Delivery
	failed []Delivery
	calls  int
	// Now is the receiver's clock for the timestamp check.
	Now func() time.Time
	// Respond returns the status for the n-th request (from 1); 0 hangs
	// until the client gives up.
	Respond func(n int) int
	// failWith, when not 0, answers every request (see Fail).
	failWith int
}

// NewReceiver starts a receiver of messages signed with secret.
func NewReceiver(t *testing.T, secret string) *Receiver {
	r := &Receiver{t: t, secret: secret, Now: time.Now}
	r.Server = httptest.NewServer(r)
	t.Cleanup(r.Server.Close)
	return r
}

// URL is where the receiver listens.
func (r *Receiver) URL() string { return r.Server.URL }

// ServeHTTP checks and records one delivery.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	if req.Method != http.MethodPost {
		r.t.Errorf("method %s", req.Method)
	}
	if err := Verify(r.secret, req.Header, body, r.Now()); err != nil {
		r.t.Errorf("signature: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	d := Delivery{Header: req.Header.Clone(), Body: body}
	if err := json.Unmarshal(body, &d.Msg); err != nil {
		r.t.Errorf("body %s: %v", body, err)
	}
	if d.Msg.ID != req.Header.Get("webhook-id") {
		r.t.Errorf("body id %q, header id %q", d.Msg.ID, req.Header.Get("webhook-id"))
	}
	r.mu.Lock()
	r.calls++
	n := r.calls
	status := http.StatusNoContent
	if r.Respond != nil {
		status = r.Respond(n)
	}
	if r.failWith != 0 {
		status = r.failWith
	}
	if status == 0 {
		r.mu.Unlock()
		<-req.Context().Done()
		return
	}
	if status/100 == 2 {
		r.got = append(r.got, d)
	} else {
		r.failed = append(r.failed, d)
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

// Fail makes the receiver answer every request with status from now on;
// 0 makes it answer as before.
func (r *Receiver) Fail(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failWith = status
}

// Accepted returns the deliveries answered with 2xx so far.
func (r *Receiver) Accepted() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}

// Failed returns the deliveries answered with another status so far.
func (r *Receiver) Failed() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.failed...)
}

// Requests returns how many requests arrived.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// Event is an event as a receiver decodes it.
type Event struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	TimeMS   int64  `json:"time_ms"`
	UserID   string `json:"user_id"`
	Room     string `json:"room"`
	Presence *struct {
		Status   string   `json:"status"`
		V        uint64   `json:"v"`
		LastSeen *float64 `json:"last_seen"`
	} `json:"presence"`
}

// String names an event by what it says, not by its id: its type, user
// and "@room".
func (e Event) String() string {
	s := e.Type
	if e.UserID != "" {
		s += " " + e.UserID
	}
	if e.Room != "" {
		s += " @" + e.Room
	}
	return s
}

// Events returns the events accepted so far, each once, in the order they
// first arrived.
func (r *Receiver) Events() []Event {
	seen := map[string]bool{}
	var out []Event
	for _, d := range r.Accepted() {
		for _, ev := range d.Msg.Events {
			if !seen[ev.ID] {
				seen[ev.ID] = true
				out = append(out, ev)
			}
		}
	}
	return out
}
