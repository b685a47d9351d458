//go:build linux

package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestModelChecksCompareMediansWithinTolerance(t *testing.T) {
	var reps []*report
	for _, v := range []struct{ cmds, rss float64 }{{14000, 100e6}, {15500, 60e6}, {16000, 70e6}} {
		r := newReport("idle", "x")
		r.add("redis_commands_per_s", v.cmds, "/s")
		r.add("server_rss_after_per_node", v.rss, "B")
		reps = append(reps, r)
	}
	// 100 commands/s for the deployment, 3 nodes at 50 and 15,000
	// sessions at 1 command/s each;
	// 5,000 per node at 4,000 B on top of 1 MiB, 10 subscriptions as
	// measured.
	got := modelChecks(reps, testCosts, 3, 15000, 10, 0)
	if len(got) != 2 {
		t.Fatalf("checks: %+v", got)
	}
	if got[0].Predicted != 15250 || got[0].Measure != 15500 || !got[0].ok() {
		t.Errorf("commands: %+v, want 15,250 predicted against the median 15,500, within", got[0])
	}
	want := float64(1<<20) + 5000*4000
	if got[1].Predicted != want || got[1].Measure != 70e6 || got[1].ok() {
		t.Errorf("memory: %+v, want %v predicted against 70 MB, outside 25%%", got[1], want)
	}
	// With changes, each adds its commands; 12 subscriptions add 2 × 100 B.
	got = modelChecks(reps, testCosts, 1, 15000, 12, 10)
	if got[0].Predicted != 100+50+15000+10*20 || got[1].Predicted != float64(1<<20)+15000*4200 {
		t.Errorf("with changes and 12 subscriptions: %+v", got)
	}
}

// TestReadIdleRunsTakesTheDeploymentsRuns writes reports as --out does and
// reads back only the runs of the deployment asked for.
func TestReadIdleRunsTakesTheDeploymentsRuns(t *testing.T) {
	line := func(store string, nodes, conns int, cmds float64) []byte {
		r := newReport("idle", "x")
		r.param("nodes", nodes)
		r.param("conns", conns)
		r.param("subs", 10)
		r.param("changes_per_s", 0.0)
		r.param("store", store)
		r.add("redis_commands_per_s", cmds, "/s")
		return append(r.JSON(), '\n')
	}
	var b []byte
	b = append(b, line("cluster", 3, 15000, 100)...)
	b = append(b, line("redis", 1, 15000, 999)...)
	b = append(b, line("cluster", 3, 15000, 300)...)
	b = append(b, line("cluster", 3, 9000, 999)...)
	path := filepath.Join(t.TempDir(), "runs.jsonl")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	reps, err := readIdleRuns(path, "cluster", 3, 15000, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, r := range reps {
		v, _ := r.value("redis_commands_per_s")
		got = append(got, v)
	}
	if len(got) != 2 || got[0] != 100 || got[1] != 300 {
		t.Fatalf("read %v, want the two cluster runs of 15,000 sessions: [100 300]", got)
	}
	if _, err := readIdleRuns(path, "cluster", 3, 15000, 12, 0); err == nil {
		t.Fatal("no run with 12 subscriptions, yet no error")
	}
	if err := os.WriteFile(path, []byte("not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readIdleRuns(path, "cluster", 3, 15000, 10, 0); err == nil {
		t.Fatal("a damaged file was read")
	}
}
