package server_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// TestBoltStatsMetrics checks that a node on the embedded store exports
// what its file costs, and that a session's connect (a durable change)
// shows in it.
func TestBoltStatsMetrics(t *testing.T) {
	h := start(t, nil)
	before := h.scrape()
	h.online("alice", "web")
	after := h.scrape()
	for _, name := range []string{"presenced_bolt_page_writes_total", "presenced_bolt_commits_total", "presenced_bolt_record_changes_total"} {
		b, okb := before[name]
		a, oka := after[name]
		if !okb || !oka {
			t.Fatalf("metrics lack %s", name)
		}
		if a <= b {
			t.Errorf("%s did not grow with a connect: %v → %v", name, b, a)
		}
	}
}

// scrape returns the values of the bolt metrics, by name.
func (h *harness) scrape() map[string]float64 {
	h.t.Helper()
	resp, err := http.Get(h.base + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, m := range boltMetric.FindAllSubmatch(body, -1) {
		if f, err := strconv.ParseFloat(string(m[2]), 64); err == nil {
			out[string(m[1])] = f
		}
	}
	return out
}

var boltMetric = regexp.MustCompile(`(?m)^(presenced_bolt_[a-z_]+) (\S+)$`)
