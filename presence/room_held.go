package presence

import "encoding/json"

// HeldRooms returns the room connections the record stands for, by room:
// each room a session lists, and each room an ended session still owes a
// leave in, whose membership stays until the leave is performed. A
// connection carries its session and its device (that of an ended session
// is not kept: ""); its meta is not part of the record and is the empty
// object.
//
// A node that keeps rooms in memory rebuilds them from it after a restart
// (see hub.RestoreRooms), so that the sessions' ends still leave them.
func (s *UserState) HeldRooms() map[string][]RoomConn {
	var held map[string][]RoomConn
	add := func(room, session, device string) {
		for _, c := range held[room] {
			if c.SessionID == session {
				return
			}
		}
		if held == nil {
			held = make(map[string][]RoomConn)
		}
		held[room] = append(held[room], RoomConn{SessionID: session, Device: device, Meta: emptyMeta})
	}
	for i := range s.Sessions {
		for _, room := range s.Sessions[i].Rooms {
			add(room, s.Sessions[i].ID, s.Sessions[i].Device)
		}
	}
	for _, l := range s.Leaves {
		add(l.Room, l.SessionID, "")
	}
	return held
}

// emptyMeta is the meta of a connection that gave none.
var emptyMeta = json.RawMessage("{}")
