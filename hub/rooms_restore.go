package hub

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/presenced/presenced/presence"
)

// RoomsRestored counts what RestoreRooms wrote.
type RoomsRestored struct {
	// Members is how many memberships were written back.
	Members int
	// Refused is how many were not, their room full (a member limit
	// lowered between the runs); Room names one of those rooms.
	Refused int
	Room    string
}

// errRestoreFull stops the restore of one membership of a full room.
var errRestoreFull = errors.New("room full")

// RestoreRooms writes into rs the room memberships that the users' records
// stand for (presence.UserState.HeldRooms), for a room store that did not
// outlive the process while the records did: the embedded store keeps the
// previous run's sessions in their grace, and their rooms would otherwise
// start empty. Then a device that reconnects within the grace and joins
// again is an existing member, and a session that does not come back
// leaves its rooms when its grace ends, as on a node that never stopped.
//
// A restored member is what a live node shows of a member whose
// connections are all in their grace: its connections are the sessions'
// (an ended session's with no device), with empty meta, since meta is not
// part of the record; it joined at now; its invisibility is the user's. A
// new member of a room holding maxMembers is refused, as a join is.
//
// It writes to rs alone: nothing is published, and given the store under
// the server's webhook wrapper, no event is derived. Call it before the
// node serves.
func RestoreRooms(ctx context.Context, rs RoomStore, states []presence.UserState, maxMembers int, now time.Time) (RoomsRestored, error) {
	var r RoomsRestored
	for i := range states {
		st := &states[i]
		held := st.HeldRooms()
		for _, room := range slices.Sorted(maps.Keys(held)) {
			_, err := rs.UpdateRoom(ctx, room, st.UserID, func(m *presence.RoomMember, count int) (*presence.RoomMember, error) {
				if m == nil {
					if count >= maxMembers {
						return nil, errRestoreFull
					}
					m = &presence.RoomMember{UserID: st.UserID, JoinedAt: now}
				}
				for _, c := range held[room] {
					if m.Conn(c.SessionID) < 0 {
						m.Connections = append(m.Connections, c)
					}
				}
				if st.Version >= m.UserV {
					m.Invisible, m.UserV = st.Invisible, st.Version
				}
				return m, nil
			})
			switch {
			case errors.Is(err, errRestoreFull):
				r.Refused++
				r.Room = room
			case err != nil:
				return r, err
			default:
				r.Members++
			}
		}
	}
	return r, nil
}
