package redisstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/presenced/presenced/privacy"
)

// TestSettingsAcrossNodes has three nodes add contacts to one user at
// once, with a node deleting the settings in between: no add is lost
// after the delete, and none from before it survives.
func TestSettingsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			nodes := openNodes(t, url, 3, nil)
			add := func(round int) {
				var wg sync.WaitGroup
				for i, n := range nodes {
					wg.Go(func() {
						for k := range 10 {
							id := fmt.Sprintf("r%d-n%d-%d", round, i, k)
							if _, err := n.Settings.UpdateSettings(ctx, "alice", func(s *privacy.Settings) error {
								s.Contacts = append(s.Contacts, id)
								slices.Sort(s.Contacts)
								return nil
							}); err != nil {
								t.Error(err)
							}
						}
					})
				}
				wg.Wait()
			}
			add(0)
			if err := nodes[1].Settings.DeleteSettings(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			add(1)
			m, err := nodes[2].Settings.LoadSettings(ctx, []string{"alice", "bob"})
			if err != nil {
				t.Fatal(err)
			}
			got := m["alice"].Contacts
			if len(got) != 30 || got[0] != "r1-n0-0" {
				t.Fatalf("%d contacts, first %q; want the 30 added after the delete", len(got), got[0])
			}
			if _, ok := m["bob"]; ok {
				t.Fatal("bob has settings")
			}
			// A zero result removes the key.
			if _, err := nodes[0].Settings.UpdateSettings(ctx, "alice", func(s *privacy.Settings) error {
				*s = privacy.Settings{}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			n, err := nodes[0].client.Do(ctx, nodes[0].client.B().Exists().Key(nodes[0].l.settingsKey("alice")).Build()).AsInt64()
			if err != nil || n != 0 {
				t.Fatalf("EXISTS after a zero update = %d, %v", n, err)
			}
		})
	}
}
