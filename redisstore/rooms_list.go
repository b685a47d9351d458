package redisstore

import (
	"context"
	"slices"
	"strings"

	"github.com/redis/rueidis"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
)

// scanCount is the keys one SCAN step looks at.
const scanCount = 1000

// ListRooms lists the occupied rooms; see hub.RoomLister. A room is
// occupied while its member hash exists (the last member's removal deletes
// it). The rooms are found by SCAN on every node, so a page costs a walk
// of the whole key space: the directory is for backends, not clients.
func (r *Rooms) ListRooms(ctx context.Context, prefix, after string, limit int) (presence.RoomList, error) {
	ctx, cancel := r.b.opContext(ctx)
	defer cancel()
	names, err := r.scanRooms(ctx, prefix)
	if err != nil {
		return presence.RoomList{}, err
	}
	i, found := slices.BinarySearch(names, after)
	if found {
		i++
	}
	names = names[i:]
	more := len(names) > limit
	names = names[:min(limit, len(names))]
	if len(names) == 0 {
		return presence.RoomList{}, nil
	}
	cmds := make(rueidis.Commands, 0, 2*len(names))
	for _, name := range names {
		keys := r.l.roomKeys(name)
		cmds = append(cmds, r.client.B().Hlen().Key(keys[1]).Build(), r.client.B().Hget().Key(keys[0]).Field("vis").Build())
	}
	res := r.client.DoMulti(ctx, cmds...)
	var list presence.RoomList
	for j, name := range names {
		n, err := res[2*j].AsInt64()
		if err != nil {
			return presence.RoomList{}, unavailable("list rooms", err)
		}
		vis, _ := res[2*j+1].AsInt64() // absent once the room emptied
		if n > 0 {
			list.Rooms = append(list.Rooms, presence.RoomInfo{Room: name, Count: int(n), Visible: int(vis)})
		}
	}
	if more {
		list.Next = names[len(names)-1]
	}
	return list, nil
}

// CountRooms returns how many rooms are occupied, by the same walk as
// ListRooms.
func (r *Rooms) CountRooms(ctx context.Context) (int, error) {
	ctx, cancel := r.b.opContext(ctx)
	defer cancel()
	names, err := r.scanRooms(ctx, "")
	return len(names), err
}

// scanRooms returns the sorted names of the rooms whose member hash exists
// and whose name starts with prefix. Every node of a cluster is walked
// (replicas too: the names are deduplicated).
func (r *Rooms) scanRooms(ctx context.Context, prefix string) ([]string, error) {
	head := r.l.prefix + "{r:"
	pattern := globEscape(head+prefix) + "*}:m"
	seen := make(map[string]struct{})
	for _, node := range r.client.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(scanCount).Type("hash").Build()).AsScanEntry()
			if err != nil {
				return nil, unavailable("list rooms", err)
			}
			for _, k := range e.Elements {
				if name, ok := strings.CutPrefix(k, head); ok {
					if name, ok = strings.CutSuffix(name, "}:m"); ok && strings.HasPrefix(name, prefix) {
						seen[name] = struct{}{}
					}
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// globEscape escapes the characters SCAN's MATCH treats as pattern.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var _ hub.RoomLister = (*Rooms)(nil)
