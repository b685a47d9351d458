package memstore_test

import (
	"testing"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/privacy"
	"github.com/presenced/presenced/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) hub.Store { return memstore.New() })
}

func TestSettingsContract(t *testing.T) {
	storetest.RunSettings(t, func(*testing.T) privacy.Store { return memstore.New() })
}
