package hub

import (
	"context"
	"encoding/json"
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
