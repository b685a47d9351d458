//go:build linux

package main

import (
	"testing"

	"github.com/presenced/presenced/internal/redistest"
)

// TestSampleRedisCountsCommands runs commands on a real Redis and checks
// that the sample's difference counts exactly them, by command, without
// the sampler's own INFO calls.
func TestSampleRedisCountsCommands(t *testing.T) {
	srv := redistest.Start(t)
	before, err := sampleRedis([]string{srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := redistest.Do(srv.Addr(), "SET", "k", "a-value-of-some-length"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := redistest.Do(srv.Addr(), "GET", "k"); err != nil {
		t.Fatal(err)
	}
	after, err := sampleRedis([]string{srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	d := after.sub(before)
	if d.Calls["set"] != 3 || d.Calls["get"] != 1 || d.total() != 4 {
		t.Fatalf("calls %v (total %d), want set 3, get 1", d.Calls, d.total())
	}
	if got := d.byCount(); got != "set 3, get 1" {
		t.Fatalf("byCount = %q", got)
	}
	if d.NetIn <= 0 || d.NetOut <= 0 || after.UsedMemory <= 0 {
		t.Fatalf("network or memory not read: %+v", d)
	}
}

func TestAddInfoSumsServersAndRefusesDamage(t *testing.T) {
	var s redisSample
	s.Calls = map[string]int64{}
	for _, info := range []string{
		"# Commandstats\r\ncmdstat_evalsha:calls=10,usec=50,usec_per_call=5.00\r\ncmdstat_info:calls=7,usec=1\r\n# Stats\r\ntotal_net_input_bytes:100\r\n# Memory\r\nused_memory:1000\r\n# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:0.25\r\n",
		"cmdstat_evalsha:calls=5,usec=20\r\ncmdstat_cluster|slots:calls=2,usec=1\r\ntotal_net_input_bytes:50\r\nused_memory:500\r\n",
	} {
		if err := s.addInfo(info); err != nil {
			t.Fatal(err)
		}
	}
	if s.Calls["evalsha"] != 15 || s.Calls["cluster|slots"] != 2 || s.Calls["info"] != 0 || s.NetIn != 150 || s.UsedMemory != 1500 || s.Usec != 71 || s.CPU != 1.75 {
		t.Fatalf("summed: %+v", s)
	}
	if err := s.addInfo("cmdstat_get:usec=3\r\n"); err == nil {
		t.Fatal("a commandstat line without calls was accepted")
	}
}
