package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/presenced/presenced/presence"
)

// Node leases (hub.Leases). Every lease lives under one hash tag, {l}, so
// that renewing, claiming and ending one is a single script in one slot:
// a sorted set of the held leases by lapse time, a hash of their last
// renewals, a sorted set of the claims by their end, and per lapsed node
// a marker (claimed, then ended for a day) that refuses its renewals. Each
// node's users are indexed per deadline shard, in a sorted set beside the
// shard ({d:<n>}:n:<node>), user → the record revision that added them
// (see indexNodes).

// renewScript renews a node's lease unless it lapsed and was claimed, and
// tells the node its place among the live nodes by name, which shares out
// the polling of the deadline shards, and the live nodes' names, whose
// change tells the webhook outbox that a node left. A node counts as live
// while its lease lapses less than liveSlack before this one's (it renewed
// within about that long), so that a dead node's share passes to the
// others within seconds, not at its lapse.
//
// KEYS[1] leases, KEYS[2] renewals, KEYS[3] the node's marker. ARGV: node,
// now (unix ms), lapse (unix ms), live after (unix ms). Reply: {state,
// rank, live nodes' names}: state 0 held, 1 new, 2 lapsed.
var renewScript = newScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then return {2, 0, {}} end
local added = redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local live = redis.call('ZRANGE', KEYS[1], '(' .. ARGV[4], '+inf', 'BYSCORE')
table.sort(live)
local rank = 0
for i, n in ipairs(live) do if n == ARGV[1] then rank = i - 1 end end
return {added, rank, live}
`)

// claimLeaseScript hands a lapsed lease, or a claim that ran out, to the
// caller: the lease moves to the claims until the claim's end and the
// node's marker refuses its renewals from now on.
//
// KEYS[1] leases, KEYS[2] claims, KEYS[3] renewals, KEYS[4] the node's
// marker. ARGV: node, now (unix ms), claim end (unix ms). Reply: the last
// renewal (unix ms), or nil when someone else claimed it first.
var claimLeaseScript = newScript(`
local now = tonumber(ARGV[2])
local s = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or 'inf')
local c = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or 'inf')
if s > now and c > now then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('SET', KEYS[4], 'c')
return redis.call('HGET', KEYS[3], ARGV[1]) or '0'
`)

// endLeaseScript forgets a claimed lease and the node's connection count,
// leaving its marker for a day: a node that returns later still finds its
// lease lapsed.
//
// KEYS[1] leases, KEYS[2] claims, KEYS[3] renewals, KEYS[4] the node's
// marker, KEYS[5] connection counts. ARGV: node.
var endLeaseScript = newScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SET', KEYS[4], 'x', 'PX', 86400000)
redis.call('HDEL', KEYS[5], ARGV[1])
return 1
`)

// unindexScript removes a user from a node's index unless a later write
// added them again (their entry's revision is above the removing write's).
//
// KEYS[1] the node's users. ARGV: user, revision.
var unindexScript = newScript(`
local r = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '-1')
if r >= 0 and r <= tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
`)

// liveSlack is how long after its last renewal a node still takes its
// share of the deadline shards in the others' eyes: two renewals with the
// default lease period of a second.
const liveSlack = 2 * time.Second

func (l *layout) leaseKeys(node string) []string {
	return []string{l.leaseKey(), l.prefix + "{l}:c", l.leaseRenewedKey(), l.leaseEndedKey(node)}
}

// RenewLease implements hub.Leases. With Config.Connections, the node's
// connection count is written in the same pipeline (the same slot), for
// Connections.
func (s *Store) RenewLease(ctx context.Context, node string, now, until time.Time) (presence.LeaseState, error) {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	keys := s.l.leaseKeys(node)
	var with []rueidis.Completed
	if conns := s.b.cfg.Connections; conns != nil {
		with = append(with, s.client.B().Hset().Key(s.l.leaseConnsKey()).FieldValue().FieldValue(node, strconv.Itoa(conns())).Build())
	}
	r, others := renewScript.runWith(ctx, s.client, []string{keys[0], keys[2], keys[3]}, []string{
		node, strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(unixMS(until), 10),
		strconv.FormatInt(until.Add(-liveSlack).UnixMilli(), 10),
	}, with...)
	for _, o := range others {
		if err := o.Error(); err != nil {
			s.b.log.Debug("connection count not published", "node", node, "err", err)
		}
	}
	reply, err := r.ToArray()
	if err == nil && len(reply) != 3 {
		err = errShortReply
	}
	if err != nil {
		return 0, unavailable("renew lease", err)
	}
	state, err1 := reply[0].AsInt64()
	rank, err2 := reply[1].AsInt64()
	live, err3 := reply[2].AsStrSlice()
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, unavailable("renew lease", err)
	}
	if state == 2 {
		if len(with) > 0 {
			// The count written beside the refused renewal would outlive the
			// lease's end: nothing counts it, but nothing would delete it.
			if err := s.client.Do(ctx, s.client.B().Hdel().Key(s.l.leaseConnsKey()).Field(node).Build()).Error(); err != nil {
				s.b.log.Debug("a lapsed node's connection count not deleted", "node", node, "err", err)
			}
		}
		return presence.LeaseLapsed, nil
	}
	s.rank.Store(rank<<32 | int64(len(live)))
	if s.liveNow(live) {
		if ob := s.ob.Load(); ob != nil {
			// What the node held, and what it wrote and nobody read, is
			// left to whoever reads its streams once it is idle.
			ob.sweepAll()
		}
	}
	if state == 1 {
		return presence.LeaseNew, nil
	}
	return presence.LeaseHeld, nil
}

// liveNow records the live nodes of a renewal and reports whether a node
// of the previous renewal's is missing from them, whoever joined: a node
// dying while another starts changes the set, not its size.
func (s *Store) liveNow(names []string) bool {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	left := false
	for n := range s.live {
		if !slices.Contains(names, n) {
			left = true
			break
		}
	}
	clear(s.live)
	for _, n := range names {
		s.live[n] = struct{}{}
	}
	return left
}

// ClaimLapsed implements hub.Leases: one pipeline of two reads when no
// lease lapsed, a script per lapsed node otherwise. Only the first of the
// live nodes by name (as this node's last renewal said) reads: a lapsed
// node is not among the live ones, so it is never the one to look, and
// the others' renewals tell each its rank within a second of a change. A
// node that has not renewed yet reads too.
func (s *Store) ClaimLapsed(ctx context.Context, now time.Time, claimFor time.Duration, max int) ([]presence.Lapsed, error) {
	if rank := s.rank.Load(); rank>>32 != 0 {
		return nil, nil
	}
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	nowMS := strconv.FormatInt(now.UnixMilli(), 10)
	keys := s.l.leaseKeys("")
	var cands []string
	for _, r := range s.client.DoMulti(ctx,
		s.client.B().Zrange().Key(keys[0]).Min("-inf").Max(nowMS).Byscore().Limit(0, int64(max)).Build(),
		s.client.B().Zrange().Key(keys[1]).Min("-inf").Max(nowMS).Byscore().Limit(0, int64(max)).Build(),
	) {
		ids, err := r.AsStrSlice()
		if err != nil {
			return nil, unavailable("read leases", err)
		}
		cands = append(cands, ids...)
	}
	var out []presence.Lapsed
	end := strconv.FormatInt(now.Add(claimFor).UnixMilli(), 10)
	for _, node := range cands {
		r := claimLeaseScript.run(ctx, s.client, s.l.leaseKeys(node), []string{node, nowMS, end})
		ms, err := r.AsInt64()
		if rueidis.IsRedisNil(r.Error()) {
			continue
		}
		if err != nil {
			return out, unavailable("claim lease", err)
		}
		out = append(out, presence.Lapsed{Node: node, Renewed: time.UnixMilli(ms)})
	}
	return out, nil
}

// NodeUsers implements hub.Leases: the node's users in every deadline
// shard, in one pipeline. With shards that cannot be read it returns the
// others' users and an error.
func (s *Store) NodeUsers(ctx context.Context, node string) ([]string, error) {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	cmds := make(rueidis.Commands, DeadlineShards)
	for i := range cmds {
		cmds[i] = s.client.B().Zrange().Key(s.l.nodeUsersKey(i, node)).Min("0").Max("-1").Build()
	}
	var out []string
	var failed error
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		ids, err := r.AsStrSlice()
		if err != nil {
			failed = unavailable("read a node's users", err)
			continue
		}
		out = append(out, ids...)
	}
	return out, failed
}

// EndLease implements hub.Leases.
func (s *Store) EndLease(ctx context.Context, node string) error {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	cmds := make(rueidis.Commands, DeadlineShards)
	for i := range cmds {
		cmds[i] = s.client.B().Del().Key(s.l.nodeUsersKey(i, node)).Build()
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return unavailable("end lease", err)
		}
	}
	if err := endLeaseScript.run(ctx, s.client, append(s.l.leaseKeys(node), s.l.leaseConnsKey()), []string{node}).Error(); err != nil {
		return unavailable("end lease", err)
	}
	return nil
}

// nodeSet returns the nodes holding sessions in st.
func nodeSet(st *presence.UserState) []string {
	var out []string
	for _, ss := range st.Sessions {
		if ss.Node != "" && !contains(out, ss.Node) {
			out = append(out, ss.Node)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// indexNodes adds userID to the index of every node that holds a session
// in after and did not in before, tagged with rev, the revision the write
// about to be made will have. It runs before the write, so that the index
// never misses a user whose record names the node; an entry the write
// then does not make only costs a lapse's takeover one settle for nothing.
func (s *Store) indexNodes(ctx context.Context, userID string, before, after []string, rev int64) error {
	var cmds rueidis.Commands
	for _, n := range after {
		if !contains(before, n) {
			cmds = append(cmds, s.client.B().Zadd().Key(s.l.nodeUsersKey(userShard(userID), n)).Gt().ScoreMember().
				ScoreMember(float64(rev), userID).Build())
		}
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return unavailable("index node", err)
		}
	}
	return nil
}

// unindexNodes removes userID from the index of every node whose last
// session of the user the write of revision rev ended. A failure leaves an
// entry that costs a takeover one settle for nothing: logged, ignored.
func (s *Store) unindexNodes(ctx context.Context, userID string, before, after []string, rev int64) {
	for _, n := range before {
		if contains(after, n) {
			continue
		}
		if err := unindexScript.run(ctx, s.client, []string{s.l.nodeUsersKey(userShard(userID), n)}, []string{userID, strconv.FormatInt(rev, 10)}).Error(); err != nil {
			s.b.log.Debug("node index not updated", "user", userID, "node", n, "err", err)
		}
	}
}
