package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/webhook"
)

// The webhook outbox is one stream per Redis Cluster slot,
//
//	<p>{o:<k>}:o   stream: the webhook events of the users and rooms whose
//	               records are in the slot, oldest first
//
// where o:<k> is a hash tag chosen to land in that slot. The script that
// writes a user's record appends the change's events to its slot's stream,
// so the change and its events are written together or not at all, and a
// user's (or room's) events are in one stream, in order.
//
// Each target URL is a consumer group on every stream. A stream is read by
// one consumer at a time: a node reads new entries only when no other node
// holds unacknowledged entries of that stream, and entries held by a node
// that stopped touching them for the takeover period are claimed
// (XAUTOCLAIM) by the next reader. That keeps each event to one node and
// each user's events in order, whichever nodes read which streams.
//
// A node reads the streams it wrote to at once, and keeps reading those
// that had entries; the holder of a stream reads it again when its
// acknowledgement leaves entries that nobody was handed (their writer found
// the stream held). The rest is found by sweeps, reads of streams nobody
// named: of every slot, takeover after a node left the live set (its
// entries, held or not yet read, are then claimable) and after this node
// started (a previous process of it may have left some); and of the
// node's share of the slots (split by lease rank) every outboxSafetySweep,
// for whatever no trigger saw. An idle cluster so costs a script per slot
// and minute, not per slot and second or two.

// OutboxStreamCap bounds each slot's stream (approximately, MAXLEN ~): past
// it the oldest entries are trimmed, delivered or not.
const OutboxStreamCap = 10000

// outboxReadWindow is the shortest time between two reads of the streams a
// node wrote to: the writes of a burst, each waking the engine, are read
// together instead of one script round trip each.
const outboxReadWindow = 10 * time.Millisecond

// DefaultTakeover is how long the events a node was handed stay its own
// once it stops touching them (it touches them every third of it): long
// enough that a live node's pause does not make another send them again,
// short enough that a dead node's backlog moves within seconds.
const DefaultTakeover = 3 * time.Second

// outboxTags holds, for each slot, a hash tag that lands in it.
var outboxTags = sync.OnceValue(func() *[slotCount]string {
	var tags [slotCount]string
	left := slotCount
	for k := 0; left > 0; k++ {
		tag := "o:" + strconv.Itoa(k)
		if s := Slot(tag); tags[s] == "" {
			tags[s] = tag
			left--
		}
	}
	return &tags
})

func (l *layout) outboxKey(slot uint16) string {
	return l.prefix + "{" + outboxTags()[slot] + "}:o"
}

// Outbox is the webhook.Outbox on Redis, shared by the nodes of a
// deployment. It is safe for concurrent use.
type Outbox struct {
	b        *Backend
	client   rueidis.Client
	l        *layout
	consumer string
	takeover time.Duration
	targets  map[string]*outTarget
	groups   []string // every target's group, for acknowledgement
	idPrefix string
	seq      atomic.Uint64
}

type outTarget struct {
	group string
	wake  chan struct{}

	mu     sync.Mutex
	handed map[string]outEntry // event id → its entry
	spill  []webhook.Event     // read past Pending's max, handed next
	active map[uint16]bool     // streams whose last read may have left entries
	dirty  map[uint16]bool     // streams this node wrote to since
	// recheck holds streams to read again at a time: those of a failed
	// acknowledgement, once their entries, no longer touched, can be
	// claimed again.
	recheck  map[uint16]time.Time
	sweeps   sweeps
	lastRead time.Time
	rearmed  bool // a wake is scheduled for the end of the read window
}

type outEntry struct {
	slot  uint16
	entry string
}

// EnableOutbox makes the Store write the webhook events of its changes
// and returns the outbox the engine reads, with a queue (consumer group)
// per target. takeover is how long a node's unacknowledged events stay
// its own after it stops touching them (zero: DefaultTakeover).
func (s *Store) EnableOutbox(targets []string, takeover time.Duration) *Outbox {
	b := s.b
	if takeover <= 0 {
		takeover = DefaultTakeover
	}
	rnd := make([]byte, 9)
	_, _ = rand.Read(rnd)
	id := base64.RawURLEncoding.EncodeToString(rnd)
	ob := &Outbox{b: b, client: b.client, l: b.l, consumer: "n_" + id, takeover: takeover,
		targets: make(map[string]*outTarget), idPrefix: "evt_" + id + "_"}
	for _, t := range targets {
		g := groupName(t)
		ot := &outTarget{group: g, wake: make(chan struct{}, 1), handed: make(map[string]outEntry),
			active: make(map[uint16]bool), dirty: make(map[uint16]bool), recheck: make(map[uint16]time.Time)}
		ot.sweeps.share, ot.sweeps.gap = time.Now().Add(outboxSafetySweep), takeover
		ob.targets[t] = ot
		ob.groups = append(ob.groups, g)
	}
	// A previous process of this node, under another consumer name, may
	// have left entries; another node that saw it go swept already, but
	// with one node, or a restart quicker than the lease's slack, nobody
	// did.
	ob.sweepAll()
	b.Store.ob.Store(ob)
	b.Rooms.ob.Store(ob)
	b.done.Add(1)
	go ob.touchLoop()
	return ob
}

// sweepAll has every slot's stream read once the entries of a consumer
// that stopped now can be claimed: after the takeover period and a margin.
// Every node sweeps every slot, not its share: the ranks that split the
// slots may disagree for a moment after a change of the live nodes.
func (ob *Outbox) sweepAll() {
	at := time.Now().Add(ob.takeover + outboxSweepMargin)
	for _, t := range ob.targets {
		t.mu.Lock()
		t.sweeps.ask(at)
		t.mu.Unlock()
		time.AfterFunc(time.Until(at), t.signal)
	}
}

// groupName keeps the URL, which may carry credentials, out of Redis.
func groupName(target string) string {
	sum := sha256.Sum256([]byte(target))
	return "wh:" + hex.EncodeToString(sum[:12])
}

// UpdateWithEvents is Update for a change that causes webhook events: fn
// returns them, and they are appended to the outbox in the script that
// writes the record. Without EnableOutbox they are not kept.
func (s *Store) UpdateWithEvents(ctx context.Context, userID string, fn func(st *presence.UserState) ([]webhook.Event, error)) (presence.UserState, error) {
	wrote := false
	st, err := s.update(ctx, userID, func(st *presence.UserState) ([]webhook.Event, error) {
		evs, err := fn(st)
		wrote = len(evs) > 0
		return evs, err
	})
	if ob := s.ob.Load(); err == nil && wrote && ob != nil {
		ob.written(Slot(s.l.userKey(userID)))
	}
	return st, err
}

// withEvents adds the outbox stream of a record's slot and evs to a
// casScript call, giving the events their ids.
func (s *Store) withEvents(slot uint16, keys, args []string, evs []webhook.Event) ([]string, []string) {
	ob := s.ob.Load()
	if ob == nil {
		return keys, args
	}
	keys = append(keys, ob.l.outboxKey(slot))
	args = append(args, strconv.Itoa(OutboxStreamCap))
	return keys, ob.appendEncoded(args, evs)
}

// appendEncoded appends evs to a script's arguments, giving them their ids.
func (ob *Outbox) appendEncoded(args []string, evs []webhook.Event) []string {
	for i := range evs {
		args = append(args, ob.encode(&evs[i]))
	}
	return args
}

func (ob *Outbox) encode(ev *webhook.Event) string {
	ev.ID = ob.idPrefix + strconv.FormatUint(ob.seq.Add(1), 36)
	ev.Raw = nil
	return string(ev.AppendJSON(nil))
}

// written notes that this node appended events to slot's stream.
func (ob *Outbox) written(slot uint16) {
	for _, t := range ob.targets {
		t.mu.Lock()
		t.dirty[slot] = true
		t.mu.Unlock()
		t.signal()
	}
}

// signal wakes the engine's reader of t, unless a wake is pending.
func (t *outTarget) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Notify implements webhook.Notifier: it receives when this node wrote
// events. Other nodes' events are found by the engine's poll.
func (ob *Outbox) Notify(target string) <-chan struct{} {
	if t := ob.targets[target]; t != nil {
		return t.wake
	}
	return nil
}

// polled reports whether slot's stream is in this node's share, read at
// every safety sweep: the live nodes split the slots by their lease rank,
// as they split the deadline shards. A node that has not renewed its
// lease, or is alone, has them all.
func (ob *Outbox) polled(slot int) bool {
	rank := ob.b.Store.rank.Load()
	r, n := int(rank>>32), int(rank&0xffffffff)
	return n <= 1 || slot%n == r
}

// readScript hands the caller up to ARGV[4] entries of a stream for one
// group: first those held by consumers silent for ARGV[3] ms, then, if no
// other consumer still holds entries, new ones. Reply: {0} no stream;
// {1, entries}; {2, entries} another consumer holds entries.
//
// Most reads follow the caller's own write to a stream nobody holds: they
// cost an XPENDING and an XREADGROUP. The group is created only when the
// stream does not have it yet, and XAUTOCLAIM runs only when entries are
// pending.
//
// KEYS[1] stream. ARGV: group, consumer, takeover ms, count.
var readScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1])
if p.err then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
  p = redis.call('XPENDING', KEYS[1], ARGV[1])
end
local n = tonumber(ARGV[4])
local out = {}
if p[1] > 0 then
  local c = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0', 'COUNT', n)
  for _, e in ipairs(c[2]) do out[#out + 1] = e end
  if #c[2] > 0 then p = redis.call('XPENDING', KEYS[1], ARGV[1]) end
end
if p[4] then
  for _, cc in ipairs(p[4]) do
    if cc[1] ~= ARGV[2] then return {2, out} end
  end
end
if #out < n then
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', n - #out, 'STREAMS', KEYS[1], '>')
  if r then for _, e in ipairs(r[1][2]) do out[#out + 1] = e end end
end
return {1, out}
`)

// toRead returns the slots whose streams a read at now reads, in order:
// every slot, or the share (inShare) when sweeping it, and the streams
// that had entries at the last read, that this node wrote to since, or
// whose recheck is due. It forgets what it returns of the last two. The
// caller holds t.mu.
func (t *outTarget) toRead(now time.Time, all, share bool, inShare func(slot int) bool) []int {
	var slots []int
	for s, at := range t.recheck {
		if !now.Before(at) {
			delete(t.recheck, s)
			t.dirty[s] = true
		}
	}
	switch {
	case all:
		slots = make([]int, slotCount)
		for s := range slots {
			slots[s] = s
		}
	case share:
		for s := range slotCount {
			if inShare(s) || t.active[uint16(s)] || t.dirty[uint16(s)] {
				slots = append(slots, s)
			}
		}
	default:
		for s := range t.active {
			slots = append(slots, int(s))
		}
		for s := range t.dirty {
			if !t.active[s] {
				slots = append(slots, int(s))
			}
		}
		sort.Ints(slots)
	}
	clear(t.dirty)
	return slots
}

// Pending implements webhook.Outbox.
func (ob *Outbox) Pending(ctx context.Context, target string, max int) ([]webhook.Event, error) {
	t := ob.targets[target]
	if t == nil || max <= 0 {
		return nil, nil
	}
	t.mu.Lock()
	if len(t.spill) > 0 {
		n := min(max, len(t.spill))
		out := append([]webhook.Event(nil), t.spill[:n]...)
		t.spill = t.spill[n:]
		t.mu.Unlock()
		return out, nil
	}
	now := time.Now()
	all, share := t.sweeps.due(now)
	if wait := outboxReadWindow - now.Sub(t.lastRead); wait > 0 && !all && !share {
		if !t.rearmed {
			t.rearmed = true
			time.AfterFunc(wait, func() {
				t.mu.Lock()
				t.rearmed = false
				t.mu.Unlock()
				t.signal()
			})
		}
		t.mu.Unlock()
		return nil, nil
	}
	t.lastRead = now
	if all || share {
		t.sweeps.swept(now, all)
	}
	slots := t.toRead(now, all, share, ob.polled)
	t.mu.Unlock()
	if len(slots) == 0 {
		return nil, nil
	}
	ctx, cancel := ob.b.opContext(ctx)
	defer cancel()
	calls := make([]scriptCall, len(slots))
	args := []string{t.group, ob.consumer, strconv.FormatInt(ob.takeover.Milliseconds(), 10), strconv.Itoa(max)}
	for i, s := range slots {
		calls[i] = scriptCall{keys: []string{ob.l.outboxKey(uint16(s))}, args: args}
	}
	res := readScript.runMulti(ctx, ob.client, calls)
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []webhook.Event
	var firstErr error
	for i, r := range res {
		slot := uint16(slots[i])
		reply, err := r.ToArray()
		if err == nil && len(reply) == 0 {
			err = errShortReply
		}
		if err != nil {
			if firstErr == nil {
				firstErr = unavailable("read outbox", err)
			}
			t.active[slot] = true // try again soon
			continue
		}
		code, _ := reply[0].AsInt64()
		var entries []rueidis.RedisMessage
		if len(reply) > 1 {
			entries, _ = reply[1].ToArray()
		}
		// A stream another node holds is left to it: it reads on while it
		// has entries and once more when its acknowledgement leaves entries
		// nobody was handed (ackScript), and if it dies the sweep after it
		// left the live set takes the stream over. Reading a held stream
		// again at every wake would cost a script per held stream each time.
		if code == 0 || len(entries) == 0 {
			delete(t.active, slot)
			continue
		}
		// A read that got fewer entries than it asked for emptied the
		// stream of what nobody was handed: it is read again when someone
		// writes to it (the writer's own read) or a sweep finds it, not at
		// the next wake as well.
		if len(entries) < max {
			delete(t.active, slot)
		} else {
			t.active[slot] = true
		}
		for _, e := range entries {
			ev, entry, ok := decodeEntry(e)
			if !ok {
				ob.b.log.Warn("undecodable webhook outbox entry skipped", "entry", entry)
				continue
			}
			if _, dup := t.handed[ev.ID]; dup {
				continue
			}
			t.handed[ev.ID] = outEntry{slot: slot, entry: entry}
			out = append(out, ev)
		}
	}
	if len(out) > max {
		t.spill = append(t.spill, out[max:]...)
		out = out[:max:max]
	}
	return out, firstErr
}

var errShortReply = errors.New("short reply")

// decodeEntry reads a stream entry {id, {"e", json}}. The event is handed
// on as written (Raw), its presence not decoded.
func decodeEntry(m rueidis.RedisMessage) (webhook.Event, string, bool) {
	parts, err := m.ToArray()
	if err != nil || len(parts) < 2 {
		return webhook.Event{}, "", false
	}
	entry, _ := parts[0].ToString()
	fields, err := parts[1].AsStrSlice()
	if err != nil || len(fields) < 2 || fields[0] != "e" {
		return webhook.Event{}, entry, false
	}
	ev, err := webhook.DecodeStored([]byte(fields[1]))
	if err != nil || ev.ID == "" {
		return webhook.Event{}, entry, false
	}
	return ev, entry, true
}

// ackScript acknowledges entries for one group, deletes those that every
// configured group has acknowledged (a group that does not exist yet has
// not: it will read the stream from its start), and tells whether the
// stream has entries the group handed to nobody yet: those a writer left
// to the caller because it held the stream.
//
// KEYS[1] stream. ARGV: group, number of groups g, the g groups, ids.
// Reply: {deleted, 1 if entries are left to hand out, else 0}.
var ackScript = newScript(`
local g = tonumber(ARGV[2])
local ids = {}
for i = 3 + g, #ARGV do ids[#ids + 1] = ARGV[i] end
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
redis.pcall('XACK', KEYS[1], ARGV[1], unpack(ids))
if g == 1 then
  -- The only group: what it acknowledged is done, and every entry left
  -- is either handed out (pending) or not yet.
  local gone = redis.call('XDEL', KEYS[1], unpack(ids))
  local p = redis.call('XPENDING', KEYS[1], ARGV[1])
  if redis.call('XLEN', KEYS[1]) > p[1] then return {gone, 1} end
  return {gone, 0}
end
local last = {}
for _, gi in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, ld
  for j = 1, #gi, 2 do
    if gi[j] == 'name' then name = gi[j + 1] elseif gi[j] == 'last-delivered-id' then ld = gi[j + 1] end
  end
  last[name] = ld
end
local function le(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as <= bs)
end
local gone = {}
for _, id in ipairs(ids) do
  local done = true
  for i = 3, 2 + g do
    local gn = ARGV[i]
    if gn ~= ARGV[1] then
      local ld = last[gn]
      if not ld or not le(id, ld) or #redis.call('XPENDING', KEYS[1], gn, id, id, 1) > 0 then
        done = false
        break
      end
    end
  end
  if done then gone[#gone + 1] = id end
end
if #gone > 0 then redis.call('XDEL', KEYS[1], unpack(gone)) end
local more = 0
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if newest and last[ARGV[1]] and not le(newest[1], last[ARGV[1]]) then more = 1 end
return {#gone, more}
`)

// Ack implements webhook.Outbox.
func (ob *Outbox) Ack(ctx context.Context, target string, ids []string) error {
	t := ob.targets[target]
	if t == nil || len(ids) == 0 {
		return nil
	}
	t.mu.Lock()
	bySlot := make(map[uint16][]string)
	var order []uint16
	for _, id := range ids {
		e, ok := t.handed[id]
		if !ok {
			continue
		}
		delete(t.handed, id)
		if bySlot[e.slot] == nil {
			order = append(order, e.slot)
		}
		bySlot[e.slot] = append(bySlot[e.slot], e.entry)
	}
	t.mu.Unlock()
	if len(order) == 0 {
		return nil
	}
	ctx, cancel := ob.b.opContext(ctx)
	defer cancel()
	head := append([]string{t.group, strconv.Itoa(len(ob.groups))}, ob.groups...)
	calls := make([]scriptCall, len(order))
	for i, s := range order {
		calls[i] = scriptCall{keys: []string{ob.l.outboxKey(s)}, args: append(append([]string(nil), head...), bySlot[s]...)}
	}
	res := ackScript.runMulti(ctx, ob.client, calls)
	recheck := time.Now().Add(ob.takeover + outboxSweepMargin)
	var firstErr error
	more := false
	t.mu.Lock()
	for i, r := range res {
		reply, err := r.AsIntSlice()
		if err == nil && len(reply) != 2 {
			err = errShortReply
		}
		if err != nil {
			// The entries are handed again, by this node's recheck or by
			// whichever node reads the stream once they are idle:
			// delivered twice, never lost.
			if firstErr == nil {
				firstErr = unavailable("acknowledge outbox", err)
			}
			t.recheck[order[i]] = recheck
			continue
		}
		if reply[1] == 1 {
			t.active[order[i]] = true
			more = true
		}
	}
	t.mu.Unlock()
	if more {
		t.signal()
	}
	if firstErr != nil {
		time.AfterFunc(time.Until(recheck), t.signal)
	}
	return firstErr
}

// touchScript resets the idle time of the entries the caller still holds,
// so that no other node takes them over while it is delivering them.
//
// KEYS[1] stream. ARGV: group, consumer, ids.
var touchScript = newScript(`
local n = 0
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    n = n + 1
  end
end
return n
`)

// touchLoop keeps this node's handed entries its own, three times per
// takeover period, until the backend closes.
func (ob *Outbox) touchLoop() {
	defer ob.b.done.Done()
	tick := time.NewTicker(ob.takeover / 3)
	defer tick.Stop()
	for {
		select {
		case <-ob.b.stop:
			return
		case <-tick.C:
		}
		ob.touch()
	}
}

func (ob *Outbox) touch() {
	var calls []scriptCall
	for _, t := range ob.targets {
		t.mu.Lock()
		bySlot := make(map[uint16][]string)
		for _, e := range t.handed {
			bySlot[e.slot] = append(bySlot[e.slot], e.entry)
		}
		t.mu.Unlock()
		for s, entries := range bySlot {
			calls = append(calls, scriptCall{keys: []string{ob.l.outboxKey(s)}, args: append([]string{t.group, ob.consumer}, entries...)})
		}
	}
	if len(calls) == 0 {
		return
	}
	ctx, cancel := ob.b.opContext(context.Background())
	defer cancel()
	for _, r := range touchScript.runMulti(ctx, ob.client, calls) {
		if err := r.Error(); err != nil {
			ob.b.log.Warn("webhook outbox entries not touched; another node may take them over and send them again", "err", err)
			return
		}
	}
}

var (
	_ webhook.Outbox   = (*Outbox)(nil)
	_ webhook.Notifier = (*Outbox)(nil)
)
