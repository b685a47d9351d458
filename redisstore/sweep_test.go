package redisstore

import (
	"testing"
	"time"
)

func TestSweepsPlan(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := sweeps{share: at(outboxSafetySweep), gap: 3 * time.Second}
	check := func(now time.Duration, wantAll, wantShare bool) {
		t.Helper()
		all, share := s.due(at(now))
		if all != wantAll || share != wantShare {
			t.Fatalf("at %v: due all %v share %v, want %v %v", now, all, share, wantAll, wantShare)
		}
		if all || share {
			s.swept(at(now), all)
		}
	}
	check(0, false, false)
	check(outboxSafetySweep-time.Millisecond, false, false)
	check(outboxSafetySweep, false, true)
	check(outboxSafetySweep+time.Second, false, false) // the next is a period later

	// Asked out of order: each sweep of every slot answers what was due by
	// then, the later asks stay.
	base := outboxSafetySweep + 2*time.Second
	s.ask(at(base + 5*time.Second))
	s.ask(at(base + 3*time.Second))
	s.ask(at(base + 4*time.Second))
	check(base+2*time.Second, false, false)
	check(base+4*time.Second, true, false)
	check(base+4500*time.Millisecond, false, false)
	check(base+6*time.Second, false, false) // due, but within the gap
	check(base+7*time.Second, true, false)
	check(base+8*time.Second, false, false)
	if len(s.all) != 0 {
		t.Fatalf("asks left after every one was answered: %v", s.all)
	}
	// A sweep of every slot covers the share: the safety sweep comes a
	// period after it, not at its old time.
	check(base+7*time.Second+outboxSafetySweep-time.Millisecond, false, false)
	check(base+7*time.Second+outboxSafetySweep, false, true)

	// Asked for again and again (lease changes at every renewal): at most
	// one sweep of every slot per gap, and none of the asks is starved.
	base = 3 * outboxSafetySweep
	for i := range 10 {
		s.ask(at(base + time.Duration(i)*time.Second))
	}
	check(base, true, false)
	for d := time.Second; d < 3*time.Second; d += time.Second {
		check(base+d, false, false)
	}
	check(base+3*time.Second, true, false)
	check(base+5*time.Second, false, false)
	check(base+6*time.Second, true, false)
	check(base+9*time.Second, true, false)
	check(base+12*time.Second, false, false)
	if len(s.all) != 0 {
		t.Fatalf("asks left after every one was answered: %v", s.all)
	}
}

func TestLiveNowSeesANodeLeave(t *testing.T) {
	s := &Store{live: make(map[string]struct{})}
	for _, step := range []struct {
		live []string
		left bool
	}{
		{[]string{"a", "b"}, false},      // the first renewal
		{[]string{"a", "b", "c"}, false}, // c joined
		{[]string{"a", "c"}, true},       // b left
		{[]string{"a", "d"}, true},       // c left as d joined: same size
		{[]string{"a", "d"}, false},
		{[]string{"d", "a"}, false}, // order does not matter
	} {
		if left := s.liveNow(step.live); left != step.left {
			t.Fatalf("live %v: left %v, want %v", step.live, left, step.left)
		}
	}
}
