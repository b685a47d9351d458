package memstore

import (
	"context"
	"slices"
	"strings"

	"github.com/presenced/presenced/presence"
)

// ListRooms lists the occupied rooms; see presence.RoomLister. It looks at
// every room, so a page costs in proportion to the rooms held.
func (r *Rooms) ListRooms(_ context.Context, prefix, after string, limit int) (presence.RoomList, error) {
	var all []presence.RoomInfo
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for name, rm := range sh.m {
			if strings.HasPrefix(name, prefix) && name > after && len(rm.members) > 0 {
				all = append(all, presence.RoomInfo{Room: name, Count: len(rm.members), Visible: rm.visible})
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(all, func(a, b presence.RoomInfo) int { return strings.Compare(a.Room, b.Room) })
	return presence.PageRooms(all, limit), nil
}

// CountRooms returns how many rooms are occupied.
func (r *Rooms) CountRooms(context.Context) (int, error) {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n, nil
}
