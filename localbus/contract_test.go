package localbus_test

import (
	"testing"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/internal/storetest"
	"github.com/presenced/presenced/localbus"
)

func TestBusContract(t *testing.T) {
	storetest.RunBus(t, storetest.BusFactory{Nodes: 1, New: func(t *testing.T, n int) []hub.Bus {
		return []hub.Bus{localbus.New()}
	}})
}
