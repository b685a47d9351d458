package boltstore_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// BenchmarkReadStates reads 1,000 online users with a custom status each
// and folds them, the store's share of one POST /v1/presence/bulk.
func BenchmarkReadStates(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "p.db"), t0)
	ctx := context.Background()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = "b" + strconv.Itoa(i)
		if _, err := s.Update(ctx, ids[i], func(st *presence.UserState) error {
			before := st.Fold()
			if err := st.Connect(presence.Session{ID: "s" + ids[i] + "xxxxxxxx", Device: "web", ActiveAt: t0, LastSeen: t0, ExpiresAt: t0.Add(30 * time.Second)}); err != nil {
				return err
			}
			st.Apply(presence.StatusChange{CustomStatus: ptr("In a benchmark")})
			st.Settle(before, t0, presence.Timing{})
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	online := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		online = 0
		if err := s.ReadStates(ctx, ids, func(_ string, st *presence.UserState) {
			if p := st.Fold(); p.Status == presence.StatusOnline {
				online++
			}
		}); err != nil {
			b.Fatal(err)
		}
	}
	if online != len(ids) {
		b.Fatalf("%d of %d users online", online, len(ids))
	}
}
