package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/webhook"
)

// Rooms is the hub.RoomStore on Redis. Each room is three keys under its
// own hash tag, {r:<room>}, so every change is one script in one slot:
//
//	<p>{r:<room>}      hash: v (room version), vis (members not invisible)
//	<p>{r:<room>}:m    hash: user id → member record (JSON)
//	<p>{r:<room>}:i    sorted set: user ids, all at score 0, for paging by id
//
// The member count is the length of :m. It is safe for concurrent use by
// many goroutines and nodes.
type Rooms struct {
	b      *Backend
	client rueidis.Client
	l      *layout
	ob     atomic.Pointer[Outbox]
}

var _ hub.RoomStore = (*Rooms)(nil)

func newRooms(b *Backend) *Rooms { return &Rooms{b: b, client: b.client, l: b.l} }

func (l *layout) roomKeys(room string) []string {
	k := l.prefix + "{r:" + room + "}"
	return []string{k, k + ":m", k + ":i"}
}

// emptyRoomTTL is how long an emptied room keeps its version: a room
// filled again within it continues from there.
const emptyRoomTTL = time.Hour

// roomReadScript reads one member, the count, version and visible count
// together. KEYS: room keys. ARGV: user. Reply: {member or false, count, v, vis}.
var roomReadScript = newScript(`
local m = redis.call('HGET', KEYS[2], ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'v', 'vis')
return {m, redis.call('HLEN', KEYS[2]), tonumber(f[1]) or 0, tonumber(f[2]) or 0}
`)

// roomCASScript writes a member if its record is still the one read, and,
// for a join, the count too (fn may have decided on the count: the room's
// member limit). The version moves by one; a room that is created (or
// recreated after its version expired) starts at the server's clock in
// milliseconds, above every version an earlier room of that name handed
// out unless it averaged over a thousand changes a second.
//
// The new member's JSON gets the version as its last field, "v" (see
// presence.RoomMember.V): only the script knows it.
//
// A join or leave may cause webhook events, and only the script knows the
// count after it: the caller gives the events of both outcomes, and the
// script appends to the outbox stream those of the outcome it reached, so
// the change and its events are written together or not at all.
//
// KEYS[1..3] room keys, KEYS[4] (with events) the outbox stream of their
// slot. ARGV: user, member read ("" none), new member ("" to remove; JSON
// without "v"), count read ("" not checked), visible delta, ms an emptied
// room keeps its version; then, with events, the stream's length cap, the
// number e of events for a count at its edge after the change (1 after a
// join, 0 after a leave, and 1 after any other change), those e events
// (JSON), and the events for any other count.
// Reply: {1, count, v, vis} written; {0, member or false, count, v, vis} conflict.
var roomCASScript = newScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[1])
local n = redis.call('HLEN', KEYS[2])
local f = redis.call('HMGET', KEYS[1], 'v', 'vis')
local v, vis = tonumber(f[1]) or 0, tonumber(f[2]) or 0
if (cur or '') ~= ARGV[2] or (ARGV[4] ~= '' and n ~= tonumber(ARGV[4])) then
  return {0, cur, n, v, vis}
end
if v == 0 then
  local t = redis.call('TIME')
  v = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - 1
end
v = v + 1
vis = vis + tonumber(ARGV[5])
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], string.sub(ARGV[3], 1, -2) .. ',"v":' .. string.format('%d', v) .. '}')
  redis.call('ZADD', KEYS[3], 0, ARGV[1])
end
n = redis.call('HLEN', KEYS[2])
redis.call('HSET', KEYS[1], 'v', string.format('%d', v), 'vis', vis)
if n == 0 then
  redis.call('HDEL', KEYS[1], 'vis')
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
else
  redis.call('PERSIST', KEYS[1])
end
if KEYS[4] then
  local e, edge = tonumber(ARGV[8]), 1
  if ARGV[3] == '' then edge = 0 end
  local from, to = 9, 8 + e
  if n ~= edge then from, to = 9 + e, #ARGV end
  for i = from, to do redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[i]) end
end
return {1, n, v, vis}
`)

// roomPageScript reads up to ARGV[2] members after ARGV[1] ("" from the
// start) and the room's counts at one instant. Reply: {count, v, vis, more,
// id, record, id, record, …}; more is 1 when members follow the page.
var roomPageScript = newScript(`
local f = redis.call('HMGET', KEYS[1], 'v', 'vis')
local out = {redis.call('HLEN', KEYS[2]), tonumber(f[1]) or 0, tonumber(f[2]) or 0, 0}
local limit = tonumber(ARGV[2])
if limit <= 0 then return out end
local min = '-'
if ARGV[1] ~= '' then min = '(' .. ARGV[1] end
local ids = redis.call('ZRANGE', KEYS[3], min, '+', 'BYLEX', 'LIMIT', 0, limit + 1)
if #ids > limit then out[4] = 1; ids[#ids] = nil end
if #ids == 0 then return out end
local recs = redis.call('HMGET', KEYS[2], unpack(ids))
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = recs[i]
end
return out
`)

// UpdateRoom runs fn on the user's member record and writes the result by
// compare-and-set, running fn again on the newer record after a conflict;
// see hub.RoomStore.
func (r *Rooms) UpdateRoom(ctx context.Context, room, userID string, fn func(m *presence.RoomMember, count int) (*presence.RoomMember, error)) (presence.RoomChange, error) {
	return r.update(ctx, room, userID, fn, nil)
}

// UpdateRoomWithEvents is UpdateRoom for a room whose changes cause
// webhook events: the script that writes the change appends them to the
// outbox stream of the room's slot, so a crash never keeps one without
// the other. Only the script knows the room's count after a join or a
// leave, so events is asked beforehand for the events of both outcomes:
// given the change with its Count at the edge (1 after a join, 0 after a
// leave, 1 after any other change) and with Count one past it, which
// stands for every other count. The change's V and Visible are not known
// then and are zero. events is asked again after a conflict. Without
// EnableOutbox the events are not kept.
func (r *Rooms) UpdateRoomWithEvents(ctx context.Context, room, userID string, fn func(m *presence.RoomMember, count int) (*presence.RoomMember, error), events func(ch *presence.RoomChange) []webhook.Event) (presence.RoomChange, error) {
	return r.update(ctx, room, userID, fn, events)
}

func (r *Rooms) update(ctx context.Context, room, userID string, fn func(m *presence.RoomMember, count int) (*presence.RoomMember, error), events func(ch *presence.RoomChange) []webhook.Event) (presence.RoomChange, error) {
	ctx, cancel := r.b.opContext(ctx)
	defer cancel()
	keys := r.l.roomKeys(room)
	res, err := roomReadScript.run(ctx, r.client, keys, []string{userID}).ToArray()
	if err != nil {
		return presence.RoomChange{}, unavailable("read room", err)
	}
	if len(res) != 4 {
		return presence.RoomChange{}, fmt.Errorf("redisstore: room read replied %d values", len(res))
	}
	cur, _ := res[0].ToString()
	n, v, vis := roomCounts(res[1:])
	for attempt := range maxAttempts {
		old, err := decodeMember(room, cur)
		if err != nil {
			return presence.RoomChange{}, err
		}
		m, err := fn(old.Clone(), n)
		if err != nil {
			return presence.RoomChange{}, err
		}
		m = m.Stored(userID)
		if old.Equal(m) {
			return presence.RoomChange{Before: old, After: old, Count: n, Visible: vis, V: v}, nil
		}
		next, delta, checkCount := "", 0, ""
		if old != nil && !old.Invisible {
			delta--
		}
		if m != nil {
			m.V = 0 // set by the script
			b, err := json.Marshal(m)
			if err != nil {
				return presence.RoomChange{}, err
			}
			next = string(b)
			if !m.Invisible {
				delta++
			}
			if old == nil {
				checkCount = strconv.Itoa(n)
			}
		}
		args := []string{userID, cur, next, checkCount, strconv.Itoa(delta), strconv.FormatInt(emptyRoomTTL.Milliseconds(), 10)}
		run, args, written := r.withEvents(keys, args, old, m, events)
		res, err := roomCASScript.run(ctx, r.client, run, args).ToArray()
		if err != nil {
			return presence.RoomChange{}, unavailable("update room", err)
		}
		if ok, _ := res[0].AsInt64(); ok == 1 && len(res) == 4 {
			n, v, vis = roomCounts(res[1:])
			written(n)
			if m != nil {
				m.V = v
			}
			return presence.RoomChange{Before: old, After: m, Changed: true, Count: n, Visible: vis, V: v}, nil
		}
		if len(res) != 5 {
			return presence.RoomChange{}, fmt.Errorf("redisstore: room update replied %d values", len(res))
		}
		cur, _ = res[1].ToString()
		n, v, vis = roomCounts(res[2:])
		if err := backoff(ctx, attempt); err != nil {
			return presence.RoomChange{}, unavailable("update room", err)
		}
	}
	return presence.RoomChange{}, unavailable("update room", fmt.Errorf("room %q: %d conflicting writes in a row", room, maxAttempts))
}

// RoomMembers returns up to limit members after the user id after, with
// the room's counts, read atomically.
func (r *Rooms) RoomMembers(ctx context.Context, room, after string, limit int) (presence.RoomPage, error) {
	ctx, cancel := r.b.opContext(ctx)
	defer cancel()
	res, err := roomPageScript.run(ctx, r.client, r.l.roomKeys(room), []string{after, strconv.Itoa(limit)}).ToArray()
	if err != nil {
		return presence.RoomPage{}, unavailable("read room", err)
	}
	if len(res) < 4 || len(res)%2 != 0 {
		return presence.RoomPage{}, fmt.Errorf("redisstore: room page replied %d values", len(res))
	}
	var p presence.RoomPage
	var v uint64
	p.Count, v, p.Visible = roomCounts(res[:3])
	p.V = v
	more, _ := res[3].AsInt64()
	for i := 4; i < len(res); i += 2 {
		id, _ := res[i].ToString()
		rec, err := res[i+1].ToString()
		if err != nil {
			return presence.RoomPage{}, fmt.Errorf("redisstore: room %q: member %q indexed without a record", room, id)
		}
		m, err := decodeMember(room, rec)
		if err != nil {
			return presence.RoomPage{}, err
		}
		p.Members = append(p.Members, m)
	}
	if more == 1 && len(p.Members) > 0 {
		p.Next = p.Members[len(p.Members)-1].UserID
	}
	return p, nil
}

// withEvents adds to a roomCASScript call the outbox stream of the room's
// slot and the events of both outcomes (see UpdateRoomWithEvents), giving
// them their ids. written, given the count the call replied, tells the
// outbox if it appended events.
func (r *Rooms) withEvents(keys, args []string, old, m *presence.RoomMember, events func(ch *presence.RoomChange) []webhook.Event) (_, _ []string, written func(n int)) {
	none := func(int) {}
	ob := r.ob.Load()
	if ob == nil || events == nil {
		return keys, args, none
	}
	edge := 1
	if m == nil {
		edge = 0
	}
	atEdge := events(&presence.RoomChange{Before: old, After: m, Changed: true, Count: edge})
	past := events(&presence.RoomChange{Before: old, After: m, Changed: true, Count: edge + 1})
	if len(atEdge)+len(past) == 0 {
		return keys, args, none
	}
	args = append(args, strconv.Itoa(OutboxStreamCap), strconv.Itoa(len(atEdge)))
	args = ob.appendEncoded(ob.appendEncoded(args, atEdge), past)
	slot := Slot(keys[0])
	keys = append(keys[:len(keys):len(keys)], ob.l.outboxKey(slot))
	return keys, args, func(n int) {
		if n == edge && len(atEdge) > 0 || n != edge && len(past) > 0 {
			ob.written(slot)
		}
	}
}

func roomCounts(vals []rueidis.RedisMessage) (n int, v uint64, vis int) {
	a, _ := vals[0].AsInt64()
	b, _ := vals[1].AsInt64()
	c, _ := vals[2].AsInt64()
	return int(a), uint64(b), int(c)
}

func decodeMember(room, s string) (*presence.RoomMember, error) {
	if s == "" {
		return nil, nil
	}
	m := new(presence.RoomMember)
	if err := json.Unmarshal([]byte(s), m); err != nil {
		return nil, fmt.Errorf("redisstore: room %q: member record: %w", room, err)
	}
	return m, nil
}
