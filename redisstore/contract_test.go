package redisstore

import (
	"testing"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/internal/roomstoretest"
	"github.com/presenced/presenced/internal/storetest"
	"github.com/presenced/presenced/privacy"
)

func TestStoreContract(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			storetest.RunStore(t, func(t *testing.T, n int) []hub.Store {
				out := make([]hub.Store, n)
				for i, b := range openNodes(t, url, n, nil) {
					out[i] = b.Store
				}
				return out
			})
		})
	}
}

func TestBusContract(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			storetest.RunBus(t, storetest.BusFactory{Nodes: 3, New: func(t *testing.T, n int) []hub.Bus {
				out := make([]hub.Bus, n)
				for i, b := range openNodes(t, url, n, nil) {
					out[i] = b.Bus
				}
				return out
			}})
		})
	}
}

func TestSettingsContract(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			storetest.RunSettings(t, func(t *testing.T) privacy.Store {
				return openNodes(t, url, 1, nil)[0].Settings
			})
		})
	}
}

func TestRoomsContract(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			roomstoretest.Run(t, func(t *testing.T) hub.RoomStore {
				return openNodes(t, url, 1, nil)[0].Rooms
			})
		})
	}
}

var (
	_ hub.Store = (*Store)(nil)
	_ hub.Bus   = (*Bus)(nil)
)
