package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"

	"github.com/redis/rueidis"
)

// script is a Lua script run with EVALSHA, falling back to EVAL on a node
// that does not have it cached yet (a new or restarted node).
type script struct {
	src string
	sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

func (s *script) evalsha(c rueidis.Client, keys, args []string) rueidis.Completed {
	return c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

func (s *script) eval(c rueidis.Client, keys, args []string) rueidis.Completed {
	return c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

// run executes the script once.
func (s *script) run(ctx context.Context, c rueidis.Client, keys, args []string) rueidis.RedisResult {
	r := c.Do(ctx, s.evalsha(c, keys, args))
	if noScript(r.Error()) {
		r = c.Do(ctx, s.eval(c, keys, args))
	}
	return r
}

// runMulti executes the script once per call, pipelined per node. Calls
// that find the script missing are not each sent with its source: one of
// them is (EVAL loads it on its server), and the rest are retried by
// hash, until none is missing, a round per server at most. A sweep of
// every slot on a fresh server would otherwise send the source 16,384
// times.
func (s *script) runMulti(ctx context.Context, c rueidis.Client, calls []scriptCall) []rueidis.RedisResult {
	cmds := make(rueidis.Commands, len(calls))
	for i, call := range calls {
		cmds[i] = s.evalsha(c, call.keys, call.args)
	}
	res := c.DoMulti(ctx, cmds...)
	for {
		var missing []int
		for i, r := range res {
			if noScript(r.Error()) {
				missing = append(missing, i)
			}
		}
		if len(missing) == 0 {
			return res
		}
		first := missing[0]
		res[first] = c.Do(ctx, s.eval(c, calls[first].keys, calls[first].args))
		if noScript(res[first].Error()) {
			return res // EVAL cannot miss the script; give up rather than loop
		}
		missing = missing[1:]
		retry := make(rueidis.Commands, len(missing))
		for k, i := range missing {
			retry[k] = s.evalsha(c, calls[i].keys, calls[i].args)
		}
		for k, r := range c.DoMulti(ctx, retry...) {
			res[missing[k]] = r
		}
	}
}

type scriptCall struct{ keys, args []string }

// runWith executes the script once, pipelined with cmds (in its slot, on a
// cluster), and returns its result and theirs.
func (s *script) runWith(ctx context.Context, c rueidis.Client, keys, args []string, cmds ...rueidis.Completed) (rueidis.RedisResult, []rueidis.RedisResult) {
	res := c.DoMulti(ctx, append(rueidis.Commands{s.evalsha(c, keys, args)}, cmds...)...)
	if noScript(res[0].Error()) {
		res[0] = c.Do(ctx, s.eval(c, keys, args))
	}
	return res[0], res[1:]
}

func noScript(err error) bool {
	if e, ok := rueidis.IsRedisErr(err); ok {
		return e.IsNoScript() || strings.HasPrefix(e.Error(), "NOSCRIPT")
	}
	return false
}

// casScript writes a user's record if its revision is still the one read.
// The version comes out of the script: when the caller's change is
// visible, the new version is the stored one plus the caller's delta, or
// the server's clock in milliseconds if that is larger. Versions assigned
// by any node therefore form one increasing sequence per user, and a
// record that Redis lost (a restart without persistence, writes not yet
// replicated at a failover) starts again above every version watchers may
// hold, instead of at 1. On a conflict the script returns the current
// record, so the caller retries without another read.
//
// The record's field n is the number of sessions the slot's counts hold
// for it; the script moves the counts by the difference to the written
// record's sessions, so they stay the sum over the records as written,
// whoever wrote before (a record from before the counts holds none).
//
// KEYS[1] user key, KEYS[2] the live counts of its slot, KEYS[3] (with
// events) the outbox stream of its slot. ARGV: expected revision, state,
// version delta, hidden-version offset within the delta (0: unchanged),
// the written state's session count, then the stream's length cap and the
// change's webhook events (JSON), appended in the same script.
// Reply: {1, false, rev, v, hv} written; {0, s, rev, v, hv} conflict.
var casScript = newScript(`
local f = redis.call('HMGET', KEYS[1], 's', 'r', 'v', 'hv', 'n')
local rev = tonumber(f[2]) or 0
local v = tonumber(f[3]) or 0
local hv = tonumber(f[4]) or 0
if rev ~= tonumber(ARGV[1]) then
  return {0, f[1], rev, v, hv}
end
local dv = tonumber(ARGV[3])
if dv > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local nv = math.max(v + dv, now)
  local hoff = tonumber(ARGV[4])
  if hoff > 0 then hv = nv - dv + hoff end
  v = nv
end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'r', rev + 1, 'v', string.format('%d', v), 'hv', string.format('%d', hv), 'n', ARGV[5])
local was, n = tonumber(f[5]) or 0, tonumber(ARGV[5])
if n ~= was then
  redis.call('HINCRBY', KEYS[2], 's', n - was)
  if (n > 0) ~= (was > 0) then redis.call('HINCRBY', KEYS[2], 'u', n > 0 and 1 or -1) end
end
for i = 7, #ARGV do redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[i]) end
return {1, false, rev + 1, v, hv}
`)

// lowerScript makes sure a user's deadline entry is at or before a new,
// earlier deadline before the record saying so is written, and marks the
// revision about to be written so that no older revision's entry replaces
// it afterwards.
//
// KEYS[1] shard set, KEYS[2] shard revisions. ARGV: user, unix ms, revision.
var lowerScript = newScript(`
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
local r = tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0
if tonumber(ARGV[3]) > r then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
return 1
`)

// setScript sets a user's deadline entry to the deadline of a written
// revision (unix ms; "0" removes it), unless a newer revision already set
// or marked it.
//
// KEYS[1] shard set, KEYS[2] shard revisions. ARGV: user, unix ms, revision.
var setScript = newScript(`
local r = tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0
if tonumber(ARGV[3]) < r then return 0 end
if ARGV[2] == '0' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
return 1
`)

// claimScript leases up to max due entries of a shard: each moves to the
// lease's end, so it comes due again if its claimer dies before settling.
//
// KEYS[1] shard set. ARGV: now (unix ms), lease end (unix ms), max.
var claimScript = newScript(`
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[3])
for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], m) end
return due
`)
