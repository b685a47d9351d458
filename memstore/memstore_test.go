package memstore_test

import (
	"testing"

	"github.com/presenced/presenced/internal/storetest"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/privacy"
)

func TestSettingsContract(t *testing.T) {
	storetest.RunSettings(t, func(*testing.T) privacy.Store { return memstore.New() })
}
