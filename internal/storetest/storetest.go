// Package storetest is the contract every store implements: RunStore
// against a hub.Store, RunBus against a hub.Bus and RunSettings against a
// privacy.Store. memstore, boltstore and redisstore run them in their tests;
// a new backend runs the same.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/presenced/presenced/privacy"
)

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
