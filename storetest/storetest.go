// Package storetest is the contract every store implements: run Run
// against a hub.Store and RunSettings against a privacy.Store. memstore and
// boltstore run it in their tests; a new backend runs the same.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// Run checks a hub.Store. newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) hub.Store) {
	ctx := context.Background()
	t.Run("UpdateAndLoad", func(t *testing.T) {
		s := newStore(t)
		st, err := s.Update(ctx, "alice", func(st *presence.UserState) error {
			if st.UserID != "alice" || st.Version != 0 || len(st.Sessions) != 0 {
				return fmt.Errorf("fresh state = %+v", st)
			}
			st.CustomStatus, st.Version, st.HiddenV = "lunch", 3, 2
			st.LastSeen = t0
			return st.Connect(presence.Session{ID: "s1", Device: "web", ActiveAt: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Minute)})
		})
		if err != nil || st.CustomStatus != "lunch" || st.Version != 3 {
			t.Fatalf("Update = %+v, %v", st, err)
		}
		m, err := s.Load(ctx, []string{"alice", "ghost"})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := m["alice"]
		if !ok || got.CustomStatus != "lunch" || got.Version != 3 || got.HiddenV != 2 || !got.LastSeen.Equal(t0) ||
			len(got.Sessions) != 1 || got.Sessions[0].Device != "web" || !got.Sessions[0].ExpiresAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("Load = %+v", m)
		}
		if _, ok := m["ghost"]; ok {
			t.Fatal("an unknown user was returned")
		}
	})
	t.Run("FailedUpdateChangesNothing", func(t *testing.T) {
		s := newStore(t)
		set(t, s, "alice", func(st *presence.UserState) { st.CustomStatus = "kept" })
		boom := presence.Errorf(presence.CodeInvalidArgument, "no")
		_, err := s.Update(ctx, "alice", func(st *presence.UserState) error { st.CustomStatus = "lost"; return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want fn's error", err)
		}
		if got := load(t, s, "alice"); got.CustomStatus != "kept" {
			t.Fatalf("state = %+v", got)
		}
	})
	t.Run("ClaimDue", func(t *testing.T) {
		s := newStore(t)
		for i, id := range []string{"a", "b", "c", "d"} {
			set(t, s, id, func(st *presence.UserState) { st.Deadline = t0.Add(time.Duration(i) * time.Second) })
		}
		set(t, s, "d", func(st *presence.UserState) { st.Deadline = time.Time{} }) // cleared
		set(t, s, "c", func(st *presence.UserState) { st.Deadline = t0.Add(time.Hour) })
		got, err := s.ClaimDue(ctx, t0.Add(5*time.Second), 1)
		if err != nil || len(got) != 1 || got[0] != "a" {
			t.Fatalf("ClaimDue(max 1) = %v, %v", got, err)
		}
		got, _ = s.ClaimDue(ctx, t0.Add(5*time.Second), 10)
		if !slices.Equal(got, []string{"b"}) {
			t.Fatalf("ClaimDue = %v, want [b]: each due user once, cleared and moved ones not", got)
		}
		got, _ = s.ClaimDue(ctx, t0.Add(5*time.Second), 10)
		if len(got) != 0 {
			t.Fatalf("claimed twice: %v", got)
		}
		// A claimed user whose update sets a new deadline is due again.
		set(t, s, "a", func(st *presence.UserState) { st.Deadline = t0.Add(6 * time.Second) })
		got, _ = s.ClaimDue(ctx, t0.Add(2*time.Hour), 10)
		slices.Sort(got)
		if !slices.Equal(got, []string{"a", "c"}) {
			t.Fatalf("ClaimDue = %v, want [a c]", got)
		}
	})
	t.Run("ConcurrentUpdatesAreAtomic", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 25 {
					if _, err := s.Update(ctx, "alice", func(st *presence.UserState) error { st.Version++; return nil }); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if got := load(t, s, "alice"); got.Version != 200 {
			t.Fatalf("version = %d after 200 increments", got.Version)
		}
	})
}

func set(t *testing.T, s hub.Store, id string, fn func(st *presence.UserState)) presence.UserState {
	t.Helper()
	st, err := s.Update(context.Background(), id, func(st *presence.UserState) error { fn(st); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func load(t *testing.T, s hub.Store, id string) presence.UserState {
	t.Helper()
	m, err := s.Load(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return m[id]
}

// RunSettings checks a privacy.Store.
func RunSettings(t *testing.T, newStore func(t *testing.T) privacy.Store) {
	ctx := context.Background()
	t.Run("UpdateLoadDelete", func(t *testing.T) {
		s := newStore(t)
		got, err := s.UpdateSettings(ctx, "alice", func(p *privacy.Settings) error {
			if !p.IsZero() {
				return fmt.Errorf("fresh settings = %+v", p)
			}
			p.Visibility, p.LastSeenVisibility = privacy.Contacts, privacy.Nobody
			p.Contacts, p.Blocks = []string{"bob", "carol"}, []string{"mallory"}
			return nil
		})
		if err != nil || got.Visibility != privacy.Contacts {
			t.Fatalf("UpdateSettings = %+v, %v", got, err)
		}
		m, err := s.LoadSettings(ctx, []string{"alice", "ghost"})
		if err != nil {
			t.Fatal(err)
		}
		a := m["alice"]
		if a.Visibility != privacy.Contacts || a.LastSeenVisibility != privacy.Nobody ||
			!slices.Equal(a.Contacts, []string{"bob", "carol"}) || !slices.Equal(a.Blocks, []string{"mallory"}) {
			t.Fatalf("LoadSettings = %+v", m)
		}
		if _, ok := m["ghost"]; ok {
			t.Fatal("an unknown user was returned")
		}
		a.Contacts[0] = "changed"
		if m, _ := s.LoadSettings(ctx, []string{"alice"}); m["alice"].Contacts[0] != "bob" {
			t.Fatal("the store shares memory with its callers")
		}
		if err := s.DeleteSettings(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if m, _ := s.LoadSettings(ctx, []string{"alice"}); !m["alice"].IsZero() {
			t.Fatalf("after delete: %+v", m)
		}
	})
	t.Run("FailedUpdateChangesNothing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.UpdateSettings(ctx, "alice", func(p *privacy.Settings) error { p.Visibility = privacy.Nobody; return nil }); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("no")
		_, err := s.UpdateSettings(ctx, "alice", func(p *privacy.Settings) error { p.Visibility = privacy.Everyone; return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if m, _ := s.LoadSettings(ctx, []string{"alice"}); m["alice"].Visibility != privacy.Nobody {
			t.Fatalf("settings = %+v", m)
		}
	})
	t.Run("ConcurrentUpdatesAreAtomic", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 10 {
					id := fmt.Sprintf("c%d-%d", g, i)
					if _, err := s.UpdateSettings(ctx, "alice", func(p *privacy.Settings) error {
						p.Contacts = append(p.Contacts, id)
						return nil
					}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		m, _ := s.LoadSettings(ctx, []string{"alice"})
		if n := len(m["alice"].Contacts); n != 80 {
			t.Fatalf("%d contacts after 80 concurrent adds", n)
		}
	})
}
