package presence

import (
	"strconv"
	"testing"
	"time"
)

// Benchmarks of the state machine: every client event is one of these
// transitions followed by Settle, inside the store's atomic update.

var benchTiming = Timing{TTL: 30 * time.Second, Grace: 5 * time.Second, AwayAfter: 5 * time.Minute}

// benchUser returns a user online on two devices, as many are.
func benchUser(now time.Time) UserState {
	st := UserState{UserID: "alice"}
	for _, d := range []string{"web", "mobile"} {
		_ = st.Connect(Session{ID: d + "-1", Device: d, ActiveAt: now, LastSeen: now, ExpiresAt: now.Add(32 * time.Second)})
	}
	st.Settle(Presence{UserID: "alice", Status: StatusOffline}, now, benchTiming)
	return st
}

func BenchmarkTransition(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	b.Run("set_status", func(b *testing.B) {
		st := benchUser(now)
		busy, online := StatusBusy, StatusOnline
		b.ReportAllocs()
		for i := range b.N {
			before := st.Fold()
			ch := StatusChange{Status: &busy}
			if i%2 == 1 {
				ch.Status = &online
			}
			st.Apply(ch)
			st.Settle(before, now, benchTiming)
		}
	})
	b.Run("touch", func(b *testing.B) {
		st := benchUser(now)
		b.ReportAllocs()
		for i := range b.N {
			t := now.Add(time.Duration(i) * time.Millisecond)
			before := st.Fold()
			st.Touch("web-1", t, t.Add(32*time.Second))
			st.Settle(before, t, benchTiming)
		}
	})
	b.Run("close_and_reconnect_in_grace", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			st := benchUser(now)
			before := st.Fold()
			st.Disconnect("web-1", now, now, benchTiming.Grace)
			st.Settle(before, now, benchTiming)
			before = st.Fold()
			_ = st.Connect(Session{ID: "web-" + strconv.Itoa(i+2), Device: "web", ActiveAt: now, LastSeen: now, ExpiresAt: now.Add(32 * time.Second)})
			st.Settle(before, now, benchTiming)
			later := now.Add(benchTiming.Grace)
			before = st.Fold()
			st.Settle(before, later, benchTiming)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	st := benchUser(time.Unix(1_800_000_000, 0))
	st.CustomStatus, st.CustomEmoji, st.Activity = "Back at 3", "🍔", ActivityInCall
	p := st.Fold()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for range b.N {
		buf = p.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}
