package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// The deployment's live counts. Users and sessions are kept per slot, in
//
//	<p>{o:<k>}:n   hash: u, the users whose records in the slot hold a
//	               session; s, the sessions they hold
//
// by the script that writes a record (casScript), in the record's slot, so
// they move with the writes that make the webhooks' transitions and are
// exact. Connections are each node's own figure, written beside its lease
// renewal.

// countsKey returns the key of the live counts of the records in slot.
func (l *layout) countsKey(slot uint16) string {
	return l.prefix + "{" + outboxTags()[slot] + "}:n"
}

func (l *layout) leaseConnsKey() string { return l.prefix + "{l}:conns" }

// Counts returns the users with at least one session (one in its grace
// counts) and the sessions of the deployment: one HMGET per slot, 16,384
// in one pipeline that the client splits per master. A record written
// before the counts existed counts from its next write on.
func (s *Store) Counts(ctx context.Context) (users, sessions int64, err error) {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	cmds := make(rueidis.Commands, slotCount)
	for i := range cmds {
		cmds[i] = s.client.B().Hmget().Key(s.l.countsKey(uint16(i))).Field("u", "s").Build()
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		vals, err := r.ToArray()
		if err != nil {
			return 0, 0, unavailable("read counts", err)
		}
		if len(vals) != 2 {
			return 0, 0, unavailable("read counts", errShortReply)
		}
		u, _ := vals[0].AsInt64() // a slot without counts: nil, 0
		n, _ := vals[1].AsInt64()
		users += u
		sessions += n
	}
	return users, sessions, nil
}

// Connections returns the open connections of the deployment: the sum of
// the figures the nodes whose lease lapses after now wrote at their last
// renewal (so each is as old as that renewal, a lease period at most).
func (s *Store) Connections(ctx context.Context, now time.Time) (int64, error) {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	res := s.client.DoMulti(ctx,
		s.client.B().Zrange().Key(s.l.leaseKey()).Min("("+strconv.FormatInt(now.UnixMilli(), 10)).Max("+inf").Byscore().Build(),
		s.client.B().Hgetall().Key(s.l.leaseConnsKey()).Build(),
	)
	live, err := res[0].AsStrSlice()
	if err != nil {
		return 0, unavailable("read leases", err)
	}
	counts, err := res[1].AsIntMap()
	if err != nil {
		return 0, unavailable("read connection counts", err)
	}
	var n int64
	for _, node := range live {
		n += counts[node]
	}
	return n, nil
}
