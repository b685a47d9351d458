package privacy_test

import (
	"context"
	"testing"

	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/privacy"
)

// TestCacheForgetReloadsChangesMadeElsewhere: settings changed behind the
// cache's back (by another node) are seen once the user is forgotten, and
// not before.
func TestCacheForgetReloadsChangesMadeElsewhere(t *testing.T) {
	st := memstore.New()
	ctx := context.Background()
	c, _ := privacy.NewCache(privacy.CacheConfig{Store: st, Rules: privacy.Rules{}})
	if err := c.Prepare(ctx, []string{"alice", "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateSettings(ctx, "alice", func(s *privacy.Settings) error { s.Contacts = []string{"bob"}; return nil }); err != nil {
		t.Fatal(err)
	}
	if c.Level("bob", "alice") != hidden {
		t.Fatal("the cache read the store without being asked to")
	}
	n := c.Len()
	c.Forget("alice")
	if c.Len() != n-1 {
		t.Fatalf("Len = %d after forgetting one of %d", c.Len(), n)
	}
	if c.Level("bob", "alice") != full {
		t.Fatal("the change is not seen after Forget")
	}
	c.Forget("nobody") // forgetting an unknown user is harmless
}
