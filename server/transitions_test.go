package server

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/memstore"
)

// TestWatchedStoreKeepsAbilities checks that wrapping a store for
// webhooks and stats hides none of the optional abilities the hub looks
// for: without Leases the hub would fall back to a write per session per
// heartbeat interval.
func TestWatchedStoreKeepsAbilities(t *testing.T) {
	bolt, err := boltstore.Open(filepath.Join(t.TempDir(), "p.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	trans := newTransitions(nil, nil, time.Now)
	for name, s := range map[string]hub.Store{"memstore": memstore.New(), "boltstore": bolt} {
		w := trans.store(s)
		_, origReads := s.(hub.StateReader)
		_, origLeases := s.(hub.Leases)
		if _, ok := w.(hub.StateReader); ok != origReads {
			t.Errorf("%s: StateReader %v through the wrapper, %v without", name, ok, origReads)
		}
		if _, ok := w.(hub.Leases); ok != origLeases || !origLeases {
			t.Errorf("%s: Leases %v through the wrapper, %v without", name, ok, origLeases)
		}
	}
}
