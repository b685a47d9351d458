package hub

import (
	"context"
	"strconv"

	"github.com/presenced/presenced/presence"
)

// RoomLister is an optional ability of a RoomStore: listing the occupied
// rooms, for the backend's room directory and live stats.
type RoomLister interface {
	// ListRooms returns up to limit occupied rooms whose names start with
	// prefix and sort after after (byte order), in order, with their
	// counts; Next is the after of the next page, "" on the last. The
	// counts are each read at one instant, the list is not: a room that
	// fills or empties meanwhile may be missing or listed.
	ListRooms(ctx context.Context, prefix, after string, limit int) (presence.RoomList, error)
	// CountRooms returns how many rooms are occupied.
	CountRooms(ctx context.Context) (int, error)
}

// lister returns the room store's listing ability.
func (h *Hub) lister() (RoomLister, error) {
	rs, err := h.roomStore()
	if err != nil {
		return nil, err
	}
	l, ok := rs.(RoomLister)
	if !ok {
		return nil, presence.Errorf(presence.CodeUnavailable, "this room store cannot list rooms")
	}
	return l, nil
}

// ListRooms returns a page of the occupied rooms for a backend, encoded as
// {"rooms":[{"room","count"}],"next"}. Counts include invisible members,
// as every count the API key reads does.
func (h *Hub) ListRooms(ctx context.Context, prefix, after string, limit int) ([]byte, error) {
	if len(prefix) > presence.MaxRoomBytes || len(after) > presence.MaxRoomBytes {
		return nil, presence.Errorf(presence.CodeInvalidArgument, "prefix and after are at most %d bytes", presence.MaxRoomBytes)
	}
	l, err := h.lister()
	if err != nil {
		return nil, err
	}
	list, err := l.ListRooms(ctx, prefix, after, limit)
	if err != nil {
		return nil, h.unavailable(err)
	}
	b := make([]byte, 0, 32+len(list.Rooms)*48)
	b = append(b, `{"rooms":[`...)
	for i, r := range list.Rooms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"room":`...)
		b = presence.AppendString(b, r.Room)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(r.Count), 10)
		b = append(b, '}')
	}
	b = append(b, `],"next":`...)
	if list.Next == "" {
		b = append(b, "null"...)
	} else {
		b = presence.AppendString(b, list.Next)
	}
	return append(b, '}'), nil
}

// OccupiedRooms returns how many rooms have members, across the cluster.
func (h *Hub) OccupiedRooms(ctx context.Context) (int, error) {
	l, err := h.lister()
	if err != nil {
		return 0, err
	}
	n, err := l.CountRooms(ctx)
	if err != nil {
		return 0, h.unavailable(err)
	}
	return n, nil
}
