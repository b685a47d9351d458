package redisstore

import "time"

// outboxSafetySweep is how often a node reads every stream of its share
// of the slots whatever happened. The sweeps that matter are triggered by
// their cause (a node leaving the live set, this node starting), and a
// failed acknowledgement has its own streams read again; this one only
// bounds the wait of what no trigger saw, such as the entries of a node
// that stopped touching them without losing its lease. Cluster-wide it costs one script per slot and period, most of
// them on a stream that does not exist: 16,384 / 60 ≈ 273 scripts a second
// per URL, against the 8,192 a 2 s period cost, for a wait of at most a
// minute in cases that were already failures.
const outboxSafetySweep = time.Minute

// outboxSweepMargin is added to the takeover period before a triggered
// sweep, so that the entries it is for have been idle a little longer than
// XAUTOCLAIM asks, whatever the rounding of Redis's idle times and timers.
const outboxSweepMargin = 250 * time.Millisecond

// sweeps plans one URL's sweeps, the reads of more streams than those
// known to have events: of every slot when a trigger asked for it, but at
// most once per gap, and of the node's share every outboxSafetySweep. The
// gap (the takeover period) keeps a storm of lease changes, such as nodes
// whose renewals a slow Redis delays past the slack, from making every
// node read every stream at each renewal: the sweeps would slow Redis
// further. Its owner's lock guards it.
type sweeps struct {
	all     []time.Time // when the asked-for sweeps of every slot are due, earliest first
	gap     time.Duration
	lastAll time.Time // the last sweep of every slot
	share   time.Time // when the next sweep of the share is due
}

// ask asks for a sweep of every slot at, or soon after, at.
func (s *sweeps) ask(at time.Time) {
	i := len(s.all)
	for i > 0 && s.all[i-1].After(at) {
		i--
	}
	s.all = append(s.all, time.Time{})
	copy(s.all[i+1:], s.all[i:])
	s.all[i] = at
}

// due reports what a read at now must sweep: every slot, the share (only
// when not every slot), or neither.
func (s *sweeps) due(now time.Time) (all, share bool) {
	all = len(s.all) > 0 && !now.Before(s.all[0]) && !now.Before(s.lastAll.Add(s.gap))
	return all, !all && !now.Before(s.share)
}

// swept records a sweep made at now: a sweep of every slot answers every
// request due by then, and either kind sweeps the share, whose next sweep
// is a period later.
func (s *sweeps) swept(now time.Time, all bool) {
	if all {
		s.lastAll = now
		n := 0
		for n < len(s.all) && !now.Before(s.all[n]) {
			n++
		}
		s.all = s.all[n:]
	}
	s.share = now.Add(outboxSafetySweep)
}
