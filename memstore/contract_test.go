package memstore_test

import (
	"testing"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/internal/storetest"
	"github.com/presenced/presenced/memstore"
)

func TestStoreContract(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T, n int) []hub.Store {
		s := memstore.New()
		out := make([]hub.Store, n)
		for i := range out {
			out[i] = s
		}
		return out
	})
}
