package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
	"github.com/presenced/presenced/protocol"
)

// pushLog collects the views of alice one recorder received, snapshot
// included, in order, parsing each frame once.
type pushLog struct {
	r      *recorder
	parsed int
	alice  []presence.Presence
	last   presence.Presence // the last presence of anyone
}

func (l *pushLog) read() {
	l.r.mu.Lock()
	frames := l.r.frames[l.parsed:]
	l.parsed = len(l.r.frames)
	l.r.mu.Unlock()
	for _, f := range frames {
		var m struct {
			Type      string                       `json:"type"`
			Presence  presence.Presence            `json:"presence"`
			Presences map[string]presence.Presence `json:"presences"`
		}
		if json.Unmarshal(f, &m) != nil {
			continue
		}
		switch m.Type {
		case protocol.TypePresenceUpdate:
			l.last = m.Presence
			if m.Presence.UserID == "alice" {
				l.alice = append(l.alice, m.Presence)
			}
		case protocol.TypeInitialPresence:
			if p, ok := m.Presences["alice"]; ok {
				l.alice = append(l.alice, p)
			}
		}
	}
}

// TestPrivacyPushesMatchReads drives alice's presence and privacy settings
// at random — changes made here and, as another node would make them, with
// this node re-reading alice between the settings write and the record's
// move — and checks after every step, for each of five watchers: the view
// it holds is what a fresh read shows it (versions aside), versions never
// go back, and a watcher that could not see alice before or after the step
// received nothing during it.
func TestPrivacyPushesMatchReads(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			privacyModel(t, seed)
		})
	}
}

func privacyModel(t *testing.T, seed uint64) {
	h, sv := newPrivateHub(t, privacy.Rules{LastSeenReciprocity: seed%2 == 1}, 1)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 99))
	every := privacy.Everyone
	if _, err := sv.Set(ctx, "zed", privacy.Change{Visibility: &every}); err != nil {
		t.Fatal(err)
	}
	if err := h.SetOnline(ctx, h.Open("zed", "web", time.Time{}, &recorder{}), "web"); err != nil {
		t.Fatal(err)
	}
	alice := h.Open("alice", "web", time.Time{}, &recorder{})
	if err := h.SetOnline(ctx, alice, "web"); err != nil {
		t.Fatal(err)
	}
	viewers := []string{"v0", "v1", "v2", "v3", "v4"}
	logs := map[string]*pushLog{}
	for _, v := range viewers {
		logs[v] = &pushLog{r: &recorder{}}
		if err := h.Subscribe(ctx, h.Open(v, "", time.Time{}, logs[v].r), []string{"alice", "zed"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	visibilities := []privacy.Visibility{privacy.Everyone, privacy.Contacts, privacy.Nobody}
	expected := func(v string) presence.Presence {
		ps, err := h.Presences(ctx, v, []string{"alice"})
		if err != nil {
			t.Fatal(err)
		}
		return ps["alice"]
	}
	hidden := func(p presence.Presence) bool {
		return p.Status == presence.StatusOffline && p.LastSeen.IsZero() && p.CustomStatus == ""
	}
	before := map[string]presence.Presence{}
	seen := map[string]int{}
	for _, v := range viewers {
		poll.Until(t, v+"'s snapshot", func() bool { logs[v].read(); return len(logs[v].alice) == 1 })
		before[v] = expected(v)
		seen[v] = 1
	}
	for step := range 150 {
		var what string
		switch op := r.IntN(8); op {
		case 0:
			text := fmt.Sprint("status ", step)
			what = "custom status"
			if _, err := h.SetStatus(ctx, "alice", presence.StatusChange{CustomStatus: &text}); err != nil {
				t.Fatal(err)
			}
		case 1:
			st, _ := h.State(ctx, "alice")
			what = fmt.Sprint("invisible ", !st.Invisible)
			if err := h.SetInvisible(ctx, "alice", !st.Invisible); err != nil {
				t.Fatal(err)
			}
		case 2, 3:
			l := []privacy.List{privacy.BlocksList, privacy.ContactsList}[op-2]
			o := []privacy.Op{privacy.Add, privacy.Remove}[r.IntN(2)]
			v := viewers[r.IntN(len(viewers))]
			what = fmt.Sprintf("%v %v %s", l, o, v)
			if _, err := sv.Edit(ctx, "alice", l, o, []string{v}); err != nil {
				t.Fatal(err)
			}
		case 4:
			vis := visibilities[r.IntN(3)]
			what = "visibility " + string(vis)
			if _, err := sv.Set(ctx, "alice", privacy.Change{Visibility: &vis}); err != nil {
				t.Fatal(err)
			}
		case 5:
			vis := visibilities[r.IntN(3)]
			what = "last-seen visibility " + string(vis)
			if _, err := sv.Set(ctx, "alice", privacy.Change{LastSeenVisibility: &vis}); err != nil {
				t.Fatal(err)
			}
		case 6:
			if alice.IsSession() {
				what = "alice offline"
				if err := h.SetOffline(ctx, alice); err != nil {
					t.Fatal(err)
				}
			} else {
				what = "alice online"
				if err := h.SetOnline(ctx, alice, "web"); err != nil {
					t.Fatal(err)
				}
			}
		case 7:
			// Another node's change, re-read here in the middle of it.
			v := viewers[r.IntN(len(viewers))]
			block := r.IntN(2) == 0
			what = fmt.Sprintf("elsewhere: block %s %v", v, block)
			changeElsewhere(t, h, sv.Store, "alice", func(s *privacy.Settings) {
				blocks := slices.DeleteFunc(slices.Clone(s.Blocks), func(b string) bool { return b == v })
				if block {
					blocks = append(blocks, v)
				}
				s.Blocks = blocks
			}, func() {
				if err := h.resyncBatch([]string{"alice"}); err != nil {
					t.Fatal(err)
				}
			})
		}
		// A change of zed's, queued after everything about alice, marks
		// the end of the step for each watcher.
		marker := fmt.Sprint("marker ", step)
		if _, err := h.SetStatus(ctx, "zed", presence.StatusChange{CustomStatus: &marker}); err != nil {
			t.Fatal(err)
		}
		for _, v := range viewers {
			l := logs[v]
			poll.Until(t, v+" "+marker, func() bool {
				l.read()
				return l.last.UserID == "zed" && l.last.CustomStatus == marker
			})
			want := expected(v)
			pushes := l.alice
			held := pushes[len(pushes)-1]
			if !sameView(held, want) {
				t.Fatalf("step %d (%s): %s holds %+v, a read shows %+v", step, what, v, held, want)
			}
			for i := 1; i < len(pushes); i++ {
				if pushes[i].V < pushes[i-1].V {
					t.Fatalf("step %d (%s): %s's versions went back: %d after %d", step, what, v, pushes[i].V, pushes[i-1].V)
				}
			}
			if hidden(before[v]) && hidden(want) && len(pushes) != seen[v] {
				t.Fatalf("step %d (%s): %s, hidden before and after, received %+v", step, what, v, pushes[seen[v]:])
			}
			before[v], seen[v] = want, len(pushes)
		}
	}
}
