package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/webhook"
)

// Store is the hub.Store on Redis. Each user is one hash, {u:<id>}, with
// fields s (the state, see presence/codec.go), r (a revision counting
// writes), v (the presence version), hv (the hidden version) and n (the
// sessions the live counts hold for it, see Counts). It is safe for
// concurrent use by many goroutines and nodes.
type Store struct {
	b      *Backend
	client rueidis.Client
	l      *layout

	// claimed holds users this node claimed and has not settled yet: their
	// deadline entry carries a lease and must be rewritten even when
	// settling changes nothing.
	claimMu sync.Mutex
	claimed map[string]struct{}
	rotate  atomic.Uint32 // where a claim of fewer users than due shards starts

	// rank is this node's place among the live nodes (high 32 bits) and
	// their number (low 32), from its last lease renewal: zero until then.
	rank atomic.Int64
	// live holds the live nodes' names as of the last renewal, to tell
	// when one of them left.
	liveMu sync.Mutex
	live   map[string]struct{}

	// ob, once webhooks are enabled, receives the events of UpdateWithEvents.
	ob atomic.Pointer[Outbox]
}

func newStore(b *Backend) *Store {
	return &Store{b: b, client: b.client, l: b.l, claimed: make(map[string]struct{}), live: make(map[string]struct{})}
}

// maxAttempts bounds the compare-and-set retries of one Update. Writers of
// one user are that user's few connections and the reapers, so a conflict
// is rare and a long run of them means something is wrong.
const maxAttempts = 32

// record is a user's hash as read.
type record struct {
	s      string // "" when the user is unknown
	rev    int64
	v, hv  uint64
	exists bool
}

func (r *record) decode(id string) (presence.UserState, error) {
	var st presence.UserState
	if r.s != "" {
		if err := st.UnmarshalString(r.s); err != nil {
			return st, fmt.Errorf("redisstore: user %q: %w", id, err)
		}
	}
	st.UserID = id
	st.Version, st.HiddenV = r.v, r.hv
	return st, nil
}

// encode returns the stored form of st (see presence/codec.go).
func encode(st *presence.UserState) string {
	b, _ := st.AppendBinary(make([]byte, 0, 64+len(st.Sessions)*64+len(st.CustomStatus)+len(st.Leaves)*48))
	return string(b)
}

// Update reads the user's record, runs fn on it and writes it back if no
// other writer came between, retrying fn on the newer record otherwise. A
// call whose fn changes nothing writes nothing.
//
// The deadline index is kept in another slot, so it cannot change in the
// same script. Instead it never lags behind in the dangerous direction: a
// deadline moving earlier (or appearing) is written to the index before
// the record, and the exact value after it; an index entry that is early
// only makes a reaper settle the user for nothing and rewrite the entry.
func (s *Store) Update(ctx context.Context, userID string, fn func(st *presence.UserState) error) (presence.UserState, error) {
	return s.update(ctx, userID, func(st *presence.UserState) ([]webhook.Event, error) { return nil, fn(st) })
}

// update is Update for a change that may cause webhook events: fn returns
// them, and the script that writes the record appends them to the outbox
// stream of the record's slot, so both are written or neither. The same
// script keeps the slot's live counts (see Counts).
func (s *Store) update(ctx context.Context, userID string, fn func(st *presence.UserState) ([]webhook.Event, error)) (presence.UserState, error) {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	key := s.l.userKey(userID)
	rec, err := s.read(ctx, key)
	if err != nil {
		return presence.UserState{}, err
	}
	claimed := s.takeClaim(userID)
	for attempt := range maxAttempts {
		st, err := rec.decode(userID)
		if err != nil {
			return presence.UserState{}, err
		}
		before := encode(&st)
		oldDeadline := st.Deadline
		nodesBefore := nodeSet(&st)
		evs, err := fn(&st)
		if err != nil {
			return presence.UserState{}, err
		}
		nodesAfter := nodeSet(&st)
		after := encode(&st)
		if after == before && st.Version == rec.v && st.HiddenV == rec.hv {
			if claimed {
				s.setDeadline(ctx, userID, st.Deadline, rec.rev)
			}
			return st, nil
		}
		if st.Version < rec.v {
			return presence.UserState{}, fmt.Errorf("redisstore: user %q: version went back from %d to %d", userID, rec.v, st.Version)
		}
		if dl := st.Deadline; !dl.IsZero() && (oldDeadline.IsZero() || dl.Before(oldDeadline)) {
			if err := s.lowerDeadline(ctx, userID, dl, rec.rev+1); err != nil {
				return presence.UserState{}, err
			}
		}
		if err := s.indexNodes(ctx, userID, nodesBefore, nodesAfter, rec.rev+1); err != nil {
			return presence.UserState{}, err
		}
		var hoff uint64 // where in the delta the hidden version was set
		if st.HiddenV != rec.hv {
			if st.HiddenV <= rec.v || st.HiddenV > st.Version {
				return presence.UserState{}, fmt.Errorf("redisstore: user %q: hidden version %d outside the update's versions %d..%d", userID, st.HiddenV, rec.v+1, st.Version)
			}
			hoff = st.HiddenV - rec.v
		}
		slot := Slot(key)
		keys, args := []string{key, s.l.countsKey(slot)}, []string{
			strconv.FormatInt(rec.rev, 10), after,
			strconv.FormatUint(st.Version-rec.v, 10), strconv.FormatUint(hoff, 10),
			strconv.Itoa(len(st.Sessions)),
		}
		if len(evs) > 0 {
			keys, args = s.withEvents(slot, keys, args, evs)
		}
		res, err := casScript.run(ctx, s.client, keys, args).ToArray()
		if err != nil {
			return presence.UserState{}, unavailable("update", err)
		}
		ok, next, err := parseCAS(res)
		if err != nil {
			return presence.UserState{}, err
		}
		if !ok {
			rec = next
			if err := backoff(ctx, attempt); err != nil {
				return presence.UserState{}, unavailable("update", err)
			}
			continue
		}
		st.Version, st.HiddenV = next.v, next.hv
		s.unindexNodes(ctx, userID, nodesBefore, nodesAfter, next.rev)
		if claimed || !st.Deadline.Equal(oldDeadline) {
			s.setDeadline(ctx, userID, st.Deadline, next.rev)
		}
		return st, nil
	}
	return presence.UserState{}, unavailable("update", fmt.Errorf("user %q: %d conflicting writes in a row", userID, maxAttempts))
}

// backoff sleeps before retry attempt+1 of a conflicting write: a random
// time below a bound that doubles from 1ms to 64ms, so that writers that
// keep colliding spread out and one of them gets through.
func backoff(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return nil
	}
	d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func parseCAS(res []rueidis.RedisMessage) (bool, record, error) {
	if len(res) != 5 {
		return false, record{}, fmt.Errorf("redisstore: update script replied %d values", len(res))
	}
	ok, _ := res[0].AsInt64()
	var r record
	if s, err := res[1].ToString(); err == nil {
		r.s, r.exists = s, true
	}
	r.rev, _ = res[2].AsInt64()
	v, _ := res[3].AsInt64()
	hv, _ := res[4].AsInt64()
	r.v, r.hv = uint64(v), uint64(hv)
	return ok == 1, r, nil
}

func (s *Store) readCmd(key string) rueidis.Completed {
	return s.client.B().Hmget().Key(key).Field("s", "r", "v", "hv").Build()
}

func (s *Store) read(ctx context.Context, key string) (record, error) {
	vals, err := s.client.Do(ctx, s.readCmd(key)).ToArray()
	if err != nil {
		return record{}, unavailable("read", err)
	}
	return parseRecord(vals)
}

func parseRecord(vals []rueidis.RedisMessage) (record, error) {
	var r record
	if len(vals) != 4 {
		return r, fmt.Errorf("redisstore: HMGET replied %d values", len(vals))
	}
	s, err := vals[0].ToString()
	if err != nil {
		return r, nil // unknown user
	}
	r.s, r.exists = s, true
	r.rev, _ = vals[1].AsInt64()
	v, _ := vals[2].AsInt64()
	hv, _ := vals[3].AsInt64()
	r.v, r.hv = uint64(v), uint64(hv)
	return r, nil
}

// Load returns the states of the known users among userIDs: one HMGET per
// user, pipelined, each node of a cluster answering its users in parallel.
func (s *Store) Load(ctx context.Context, userIDs []string) (map[string]presence.UserState, error) {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	cmds := make(rueidis.Commands, len(userIDs))
	for i, id := range userIDs {
		cmds[i] = s.readCmd(s.l.userKey(id))
	}
	out := make(map[string]presence.UserState, len(userIDs))
	for i, r := range s.client.DoMulti(ctx, cmds...) {
		vals, err := r.ToArray()
		if err != nil {
			return nil, unavailable("load", err)
		}
		rec, err := parseRecord(vals)
		if err != nil {
			return nil, err
		}
		if !rec.exists {
			continue
		}
		st, err := rec.decode(userIDs[i])
		if err != nil {
			return nil, err
		}
		out[userIDs[i]] = st
	}
	return out, nil
}

// unixMS returns t in unix milliseconds, rounded up so that an entry never
// comes due before its deadline.
func unixMS(t time.Time) int64 {
	ns := t.UnixNano()
	return (ns + int64(time.Millisecond) - 1) / int64(time.Millisecond)
}

func (s *Store) deadlineCall(userID string, dl time.Time, rev int64) (int, []string, []string) {
	shard := userShard(userID)
	ms := "0"
	if !dl.IsZero() {
		ms = strconv.FormatInt(unixMS(dl), 10)
	}
	return shard, []string{s.l.shardKey(shard), s.l.shardRevKey(shard)}, []string{userID, ms, strconv.FormatInt(rev, 10)}
}

func (s *Store) lowerDeadline(ctx context.Context, userID string, dl time.Time, rev int64) error {
	_, keys, args := s.deadlineCall(userID, dl, rev)
	if err := lowerScript.run(ctx, s.client, keys, args).Error(); err != nil {
		return unavailable("index deadline", err)
	}
	return nil
}

// setDeadline rewrites a user's index entry after a write. A failure
// leaves an entry that is early or stale, never late (see Update), so it
// is logged and otherwise ignored.
func (s *Store) setDeadline(ctx context.Context, userID string, dl time.Time, rev int64) {
	_, keys, args := s.deadlineCall(userID, dl, rev)
	if err := setScript.run(ctx, s.client, keys, args).Error(); err != nil {
		s.b.log.Debug("deadline index not updated; a reaper will settle the user early and retry", "user", userID, "err", err)
	}
}

func (s *Store) takeClaim(userID string) bool {
	s.claimMu.Lock()
	defer s.claimMu.Unlock()
	if _, ok := s.claimed[userID]; ok {
		delete(s.claimed, userID)
		return true
	}
	return false
}

// ClaimDue leases up to max users whose deadline has come. The live
// nodes share the shards (shard i goes to the node whose rank among them,
// by name, is i mod their number, as its last lease renewal said; a node
// that has not renewed polls them all), so that with the hub's poll once
// per lease period each shard is read about once a second whatever the
// number of nodes. A shard is read with a plain ZRANGE first; only one
// with a due entry runs the claim script, which takes the due entries and
// moves each to the end of the claim's lease, so if this node dies before
// settling the user, another node claims it then. When some shards cannot
// be reached it returns what the others gave together with a *ClaimError
// naming the shards.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, max int) ([]string, error) {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	if max <= 0 {
		return nil, nil
	}
	nowMS := strconv.FormatInt(now.UnixMilli(), 10)
	var failed ClaimError
	fail := func(shard int, err error) {
		if failed.Shards == 0 {
			failed.err = unavailable("claim deadlines", err)
		}
		failed.Shards |= 1 << shard
	}
	shards := s.polledShards()
	peek := make(rueidis.Commands, len(shards))
	for i, shard := range shards {
		peek[i] = s.client.B().Zrange().Key(s.l.shardKey(shard)).Min("-inf").Max(nowMS).Byscore().Limit(0, 1).Build()
	}
	var due []int
	for i, r := range s.client.DoMulti(ctx, peek...) {
		ids, err := r.AsStrSlice()
		switch {
		case err != nil:
			fail(shards[i], err)
		case len(ids) > 0:
			due = append(due, shards[i])
		}
	}
	if len(due) > max {
		// Fewer than one per shard: take max shards, from a rotating one.
		first := int(s.rotate.Add(1)) % len(due)
		due = append(due[first:], due[:first]...)[:max]
	}
	var ids []string
	if len(due) > 0 {
		leaseEnd := strconv.FormatInt(now.Add(s.b.cfg.Lease).UnixMilli(), 10)
		per := strconv.Itoa(maxInt(1, max/len(due)))
		calls := make([]scriptCall, len(due))
		for i, shard := range due {
			calls[i] = scriptCall{keys: []string{s.l.shardKey(shard)}, args: []string{nowMS, leaseEnd, per}}
		}
		for i, r := range claimScript.runMulti(ctx, s.client, calls) {
			got, err := r.AsStrSlice()
			if err != nil {
				fail(due[i], err)
				continue
			}
			ids = append(ids, got...)
		}
	}
	if len(ids) > 0 {
		s.claimMu.Lock()
		for _, id := range ids {
			s.claimed[id] = struct{}{}
		}
		s.claimMu.Unlock()
	}
	if failed.Shards != 0 {
		return ids, &failed
	}
	return ids, nil
}

// polledShards returns the deadline shards this node polls.
func (s *Store) polledShards() []int {
	rank := s.rank.Load()
	r, n := int(rank>>32), int(rank&0xffffffff)
	out := make([]int, 0, DeadlineShards)
	for i := range DeadlineShards {
		if n <= 1 || i%n == r {
			out = append(out, i)
		}
	}
	return out
}

// ClaimError is ClaimDue's error when some deadline shards could not be
// claimed. The hub's reaper tells by it that a shard that failed answers
// again (its master came back) while others still fail.
type ClaimError struct {
	// Shards has bit i set when shard i failed.
	Shards uint64
	err    error
}

func (e *ClaimError) Error() string { return e.err.Error() }
func (e *ClaimError) Unwrap() error { return e.err }

// FailedParts returns Shards.
func (e *ClaimError) FailedParts() uint64 { return e.Shards }

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
