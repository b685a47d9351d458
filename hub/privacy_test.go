package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
)

func newPrivateHub(t testing.TB, rules privacy.Rules, writers int) (*Hub, *privacy.Service) {
	t.Helper()
	st := memstore.New()
	cache, err := privacy.NewCache(privacy.CacheConfig{Store: st, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHub(t, func(c *Config) { c.Store = st; c.Policy = cache; c.Writers = writers })
	cache.SetInUse(h.InUse)
	return h, &privacy.Service{Store: st, Rules: rules, OnChange: h.PrivacyChanged}
}

func TestPrivacyChangePushesOnlyChangedViews(t *testing.T) {
	h, sv := newPrivateHub(t, privacy.Rules{}, 1)
	ctx := context.Background()
	if _, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Replace, []string{"bob", "dave"}); err != nil {
		t.Fatal(err)
	}
	alice := h.Open("alice", "web", time.Time{}, &recorder{})
	if err := h.SetOnline(ctx, alice, "web"); err != nil {
		t.Fatal(err)
	}
	sinks := map[string]*recorder{}
	for _, id := range []string{"bob", "carol", "dave"} {
		sinks[id] = &recorder{}
		if err := h.Subscribe(ctx, h.Open(id, "", time.Time{}, sinks[id]), []string{"alice"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Alice blocks dave: only dave is told, and he sees her offline.
	if _, err := sv.Edit(ctx, "alice", privacy.BlocksList, privacy.Add, []string{"dave"}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "dave's update", func() bool { return len(sinks["dave"].updates()) == 1 })
	if p := sinks["dave"].updates()[0]; p.Status != presence.StatusOffline || p.Device != "" || p.V != 3 {
		t.Fatalf("dave got %+v", p)
	}
	// Alice opens up to everyone: carol (hidden before) sees her; bob's
	// view is unchanged; dave stays blocked.
	every := privacy.Everyone
	if _, err := sv.Set(ctx, "alice", privacy.Change{Visibility: &every}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "carol's update", func() bool { return len(sinks["carol"].updates()) == 1 })
	if p := sinks["carol"].updates()[0]; p.Status != presence.StatusOnline || p.Device != "web" || p.V != 4 {
		t.Fatalf("carol got %+v", p)
	}
	// A marker update proves nothing else was queued before it.
	text := "marker"
	if _, err := h.SetStatus(ctx, "alice", presence.StatusChange{CustomStatus: &text}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "bob's marker", func() bool { return len(sinks["bob"].updates()) == 1 })
	if p := sinks["bob"].updates()[0]; p.CustomStatus != "marker" {
		t.Fatalf("bob got %+v before the marker", p)
	}
	if n := len(sinks["dave"].updates()); n != 1 {
		t.Fatalf("dave got %d updates; a hidden viewer must see nothing move", n)
	}
}

// BenchmarkFanout10k measures one presence update delivered to 10,000
// watchers, the writers' drain included, without privacy (off) and with it:
// the target shows presence and last-seen to contacts only (all 10,000
// watchers are contacts), and with reciprocity every delivery also looks
// up the viewer's own settings.
func BenchmarkFanout10k(b *testing.B) {
	for _, mode := range []string{"off", "contacts", "contacts+reciprocity"} {
		private := mode != "off"
		b.Run("privacy="+mode, func(b *testing.B) {
			const n = 10000
			var h *Hub
			ctx := context.Background()
			watchers := make([]string, n)
			for i := range watchers {
				watchers[i] = fmt.Sprintf("watcher%05d", i)
			}
			if private {
				var sv *privacy.Service
				h, sv = newPrivateHub(b, privacy.Rules{LastSeenReciprocity: mode == "contacts+reciprocity"}, 0)
				if _, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Replace, watchers); err != nil {
					b.Fatal(err)
				}
				ls := privacy.Contacts
				if _, err := sv.Set(ctx, "alice", privacy.Change{LastSeenVisibility: &ls}); err != nil {
					b.Fatal(err)
				}
			} else {
				h, _ = newHub(b, func(c *Config) { c.Writers = 0 })
			}
			sink := newCountSink()
			got := &sink.frames
			for _, id := range watchers {
				if err := h.Subscribe(ctx, h.Open(id, "", time.Time{}, sink), []string{"alice"}, nil); err != nil {
					b.Fatal(err)
				}
			}
			for got.Load() < n {
				time.Sleep(time.Millisecond)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				want := got.Load() + n
				text := fmt.Sprint(i)
				if _, err := h.SetStatus(ctx, "alice", presence.StatusChange{CustomStatus: &text}); err != nil {
					b.Fatal(err)
				}
				for got.Load() < want {
					time.Sleep(20 * time.Microsecond)
				}
			}
		})
	}
}

// changeElsewhere changes user's settings with edit as another node would:
// the settings first, then the record's move (Hide), then the change's
// event; between runs on this node in the gap between the two writes.
func changeElsewhere(t *testing.T, h *Hub, store privacy.Store, user string, edit func(*privacy.Settings), between func()) {
	t.Helper()
	ctx := context.Background()
	if _, err := store.UpdateSettings(ctx, user, func(s *privacy.Settings) error { edit(s); return nil }); err != nil {
		t.Fatal(err)
	}
	between()
	st, err := h.cfg.Store.Update(ctx, user, func(st *presence.UserState) error { st.Hide(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	p := st.Fold()
	h.receivePrivacy(user, &event{Kind: kindPrivacy, Presence: &p, HiddenV: st.HiddenV, Node: "elsewhere"})
}

// TestPrivacyChangeReachingANodeBeforeItsEvent plays what another node's
// privacy change looks like here when this node re-reads the user (its
// subscription to the user took effect, or came back) between the
// settings write and the record's move: the re-read already carries the
// new settings, and the change's own event, arriving next, must not be
// taken for nothing. Both directions: bob is hidden, then shown again.
func TestPrivacyChangeReachingANodeBeforeItsEvent(t *testing.T) {
	h, sv := newPrivateHub(t, privacy.Rules{DefaultVisibility: privacy.Everyone}, 1)
	ctx := context.Background()
	alice := h.Open("alice", "web", time.Time{}, &recorder{})
	if err := h.SetOnline(ctx, alice, "web"); err != nil {
		t.Fatal(err)
	}
	if err := h.SetOnline(ctx, h.Open("zed", "web", time.Time{}, &recorder{}), "web"); err != nil {
		t.Fatal(err)
	}
	bob := &recorder{}
	if err := h.Subscribe(ctx, h.Open("bob", "", time.Time{}, bob), []string{"alice", "zed"}, nil); err != nil {
		t.Fatal(err)
	}
	held := uint64(1) // alice's version in bob's snapshot
	markers := 0

	// anotherNode changes alice's blocks as a node elsewhere would: the
	// settings first, then the record's move, then the event; in between,
	// this node re-reads alice or (status) fans out a change of alice's
	// with the new settings already loaded.
	anotherNode := func(block, status bool) {
		t.Helper()
		changeElsewhere(t, h, sv.Store, "alice", func(s *privacy.Settings) {
			s.Blocks = nil
			if block {
				s.Blocks = []string{"bob"}
			}
		}, func() {
			if !status {
				if err := h.resyncBatch([]string{"alice"}); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err := h.refreshPolicy(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			text := "busy"
			if _, err := h.SetStatus(ctx, "alice", presence.StatusChange{CustomStatus: &text}); err != nil {
				t.Fatal(err)
			}
		})
	}
	// check waits for a change of zed, queued after everything about
	// alice, and then counts alice's updates exactly.
	check := func(n int, status presence.Status) {
		t.Helper()
		markers++
		text := fmt.Sprint("marker ", markers)
		if _, err := h.SetStatus(ctx, "zed", presence.StatusChange{CustomStatus: &text}); err != nil {
			t.Fatal(err)
		}
		var ups []presence.Presence
		defer func() {
			if t.Failed() {
				bob.mu.Lock()
				for _, f := range bob.frames {
					t.Log(string(f))
				}
				bob.mu.Unlock()
			}
		}()
		poll.Until(t, text, func() bool {
			ups = ups[:0]
			seen := false
			for _, p := range bob.updates() {
				switch p.UserID {
				case "alice":
					ups = append(ups, p)
				case "zed":
					seen = p.CustomStatus == text
				}
			}
			return seen
		})
		if len(ups) != n {
			t.Fatalf("bob got %d updates, want %d: %+v", len(ups), n, ups)
		}
		p := ups[n-1]
		if p.Status != status || p.V < held {
			t.Fatalf("bob's update %d = %+v; want %s at a version not below %d", n, p, status, held)
		}
		if status == presence.StatusOffline && (p.Device != "" || !p.LastSeen.IsZero()) {
			t.Fatalf("hidden alice shows %+v", p)
		}
		held = p.V
	}
	anotherNode(true, false)
	check(1, presence.StatusOffline)
	anotherNode(false, false)
	check(2, presence.StatusOnline)
	anotherNode(true, true)
	check(3, presence.StatusOffline)
}
