package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// loadOnly hides the store's optional StateReader.
type loadOnly struct{ Store }

func TestAppendPresencesJSONMatchesPresences(t *testing.T) {
	t.Run("state reader", func(t *testing.T) { testAppendPresencesJSON(t, nil) })
	t.Run("load", func(t *testing.T) {
		testAppendPresencesJSON(t, func(c *Config) { c.Store = loadOnly{c.Store} })
	})
}

func testAppendPresencesJSON(t *testing.T, mutate func(*Config)) {
	h, _ := newHub(t, mutate)
	if _, ok := h.cfg.Store.(StateReader); ok == (mutate != nil) {
		t.Fatalf("store %T: StateReader %v", h.cfg.Store, ok)
	}
	ctx := context.Background()
	c := h.Open("alice", "web", time.Time{}, &recorder{})
	if err := h.SetOnline(ctx, c, ""); err != nil {
		t.Fatal(err)
	}
	text := "lunch"
	if _, err := h.SetStatus(ctx, "bob", presence.StatusChange{CustomStatus: &text}); err != nil {
		t.Fatal(err)
	}
	ids := []string{"alice", "bob", "ghost", "alice"}
	want, err := h.Presences(ctx, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.AppendPresencesJSON(ctx, "", ids, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 'x' {
		t.Fatal("the prefix was not kept")
	}
	var got, wantJSON map[string]any
	if err := json.Unmarshal(b[1:], &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	wb, _ := json.Marshal(want)
	_ = json.Unmarshal(wb, &wantJSON)
	if len(got) != 3 || !reflect.DeepEqual(got, wantJSON) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if _, err := h.AppendPresencesJSON(ctx, "", nil, nil); presence.ErrorCode(err) != presence.CodeInvalidArgument {
		t.Fatalf("no ids: err = %v", err)
	}
}

func TestDedupeKeepsFirstOccurrences(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"a"}, []string{"a"}},
		{[]string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{[]string{"a", "b", "a", "c", "b"}, []string{"a", "b", "c"}},
		{[]string{"a", "a"}, []string{"a"}},
	} {
		if got := dedupe(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("dedupe(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestPresenceReplyInRequestOrder: a get_presence reply lists each user
// once, in the order the request named them.
func TestPresenceReplyInRequestOrder(t *testing.T) {
	h, _ := newHub(t, nil)
	ctx := context.Background()
	ids := []string{"zed", "bob", "alice", "bob", "mia", "zed", "carl"}
	frame, err := h.PresenceReply(ctx, "viewer", "presence", json.RawMessage(`7`), ids)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(frame))
	var order []string
	for _, want := range []string{"{", "type", "presence", "id", "7", "presences", "{"} {
		tok, err := dec.Token()
		if err != nil || fmt.Sprint(tok) != want {
			t.Fatalf("%s: token %v (%v), want %s", frame, tok, err, want)
		}
	}
	for dec.More() {
		tok, _ := dec.Token()
		order = append(order, tok.(string))
		var p presence.Presence
		if err := dec.Decode(&p); err != nil || p.UserID != tok {
			t.Fatalf("%s: %v %+v", frame, err, p)
		}
	}
	if want := []string{"zed", "bob", "alice", "mia", "carl"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("reply lists %v, want %v", order, want)
	}
}
