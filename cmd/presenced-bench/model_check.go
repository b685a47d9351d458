//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"text/tabwriter"
)

// modelTolerance is how far a measurement may be from the model's
// prediction for the model to stand: 25 %.
const modelTolerance = 0.25

// modelCheck is one predicted figure against its median measurement.
type modelCheck struct {
	Name               string
	Predicted, Measure float64
}

func (m modelCheck) ok() bool {
	return m.Measure > 0 && math.Abs(m.Predicted-m.Measure) <= modelTolerance*m.Measure
}

// modelChecks predicts what idlecost measured, from the model's constants:
// the Redis commands per second and each node's resident memory.
func modelChecks(reps []*report, c modelCosts, nodes, conns, subs int, changesPerSec float64) []modelCheck {
	med := func(key string) float64 {
		var vals []float64
		for _, r := range reps {
			if v, ok := r.value(key); ok {
				vals = append(vals, v)
			}
		}
		return median(vals)
	}
	perSession := c.NodeRSSPerSession + float64(subs-measuredSubscriptions)*c.NodeRSSPerSubscription
	return []modelCheck{
		{"Redis commands/s", c.redisCommands(float64(nodes), float64(conns), changesPerSec), med("redis_commands_per_s")},
		{"resident memory per node (B)", c.NodeBaseRSS + float64(conns)/float64(nodes)*perSession, med("server_rss_after_per_node")},
	}
}

// checkModel prints modelChecks for an idlecost run.
func checkModel(w io.Writer, reps []*report, store string, nodes, conns, subs int, changesPerSec float64) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "== model check (%s, %d node(s), %d sessions, %d subscriptions each; tolerance %.0f%%)\n", store, nodes, conns, subs, 100*modelTolerance)
	fmt.Fprintln(tw, "figure\tpredicted\tmeasured (median)\tdifference\tverdict")
	for _, m := range modelChecks(reps, measuredCosts, nodes, conns, subs, changesPerSec) {
		verdict := "WITHIN"
		if !m.ok() {
			verdict = "OUTSIDE"
		}
		fmt.Fprintf(tw, "%s\t%.6g\t%.6g\t%+.1f%%\t%s\n", m.Name, m.Predicted, m.Measure, 100*(m.Predicted-m.Measure)/m.Measure, verdict)
	}
	return tw.Flush()
}

// readIdleRuns reads the idle runs of one deployment from a file of JSON
// lines written by --out, so that a measurement can be compared with the
// model again after its constants change, without measuring again.
func readIdleRuns(path, store string, nodes, conns, subs int, changesPerSec float64) ([]*report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string]any{"store": store, "nodes": float64(nodes), "conns": float64(conns), "subs": float64(subs), "changes_per_s": changesPerSec}
	var reps []*report
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		var line struct {
			Scenario string             `json:"scenario"`
			RunID    string             `json:"run_id"`
			Params   map[string]any     `json:"params"`
			Results  map[string]float64 `json:"results"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		match := line.Scenario == "idle"
		for k, v := range want {
			match = match && line.Params[k] == v
		}
		if !match {
			continue
		}
		r := newReport(line.Scenario, line.RunID)
		for _, k := range slices.Sorted(maps.Keys(line.Results)) {
			r.add(k, line.Results[k], "")
		}
		reps = append(reps, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(reps) == 0 {
		return nil, fmt.Errorf("%s holds no idle run of %s, %d node(s), %d sessions, %d subscriptions, %g changes/s", path, store, nodes, conns, subs, changesPerSec)
	}
	return reps, nil
}
