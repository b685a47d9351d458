package redisstore

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

func seedUsers(b testing.TB, s *Store, n int) []string {
	ids := make([]string, n)
	now := time.Now()
	for i := range ids {
		ids[i] = "bench" + strconv.Itoa(i)
		if _, err := s.Update(context.Background(), ids[i], func(st *presence.UserState) error {
			st.Version++
			return st.Connect(presence.Session{ID: "s" + strconv.Itoa(i), Device: "web", Node: "n1", ActiveAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)})
		}); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// BenchmarkLoad1000 reads 1,000 users with one session each.
func BenchmarkLoad1000(b *testing.B) {
	for name, url := range redisURLs(b) {
		b.Run(name, func(b *testing.B) {
			s := openNodes(b, url, 1, nil)[0].Store
			ids := seedUsers(b, s, 1000)
			b.ResetTimer()
			for range b.N {
				if _, err := s.Load(context.Background(), ids); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRefresh is a session refresh: the deadline moves later.
func BenchmarkRefresh(b *testing.B) {
	for name, url := range redisURLs(b) {
		b.Run(name, func(b *testing.B) {
			s := openNodes(b, url, 1, nil)[0].Store
			ids := seedUsers(b, s, 100)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					id := ids[i%len(ids)]
					if _, err := s.Update(context.Background(), id, func(st *presence.UserState) error {
						st.Touch(st.Sessions[0].ID, time.Now(), time.Now().Add(time.Hour))
						st.Deadline = st.Sessions[0].ExpiresAt
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// TestMeasureLoad reports the latency distribution of bulk reads of 1,000
// users (one session each) on a single server and a 3-master cluster, with
// nothing else running. PRESENCED_BENCH=1 runs it.
func TestMeasureLoad(t *testing.T) {
	if os.Getenv("PRESENCED_BENCH") != "1" {
		t.Skip("measurement only: set PRESENCED_BENCH=1 to run it")
	}
	for _, name := range []string{"single", "cluster"} {
		s := openNodes(t, redisURLs(t)[name], 1, nil)[0].Store
		ids := seedUsers(t, s, 1000)
		var ds []time.Duration
		for range 1000 {
			start := time.Now()
			if _, err := s.Load(context.Background(), ids); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		t.Logf("%s: Load of 1,000 users, 1,000 times: p50 %s p90 %s p99 %s max %s", name,
			ds[len(ds)/2].Round(time.Microsecond), ds[len(ds)*9/10].Round(time.Microsecond),
			ds[len(ds)*99/100].Round(time.Microsecond), ds[len(ds)-1].Round(time.Microsecond))
	}
}
