package memstore_test

import (
	"testing"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/internal/roomstoretest"
	"github.com/presenced/presenced/memstore"
)

func TestRoomStoreContract(t *testing.T) {
	roomstoretest.Run(t, func(*testing.T) hub.RoomStore { return memstore.NewRooms() })
}

func TestRoomListerContract(t *testing.T) {
	roomstoretest.RunLister(t, func(*testing.T) hub.RoomStore { return memstore.NewRooms() })
}
