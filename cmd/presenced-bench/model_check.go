//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
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
func modelChecks(reps []*report, c modelCosts, store string, nodes, conns, subs int, changesPerSec float64) []modelCheck {
	med := func(key string) float64 {
		var vals []float64
		for _, r := range reps {
			if v, ok := r.value(key); ok {
				vals = append(vals, v)
			}
		}
		return median(vals)
	}
	perSession := c.NodeRSSPerSession
	if store == "bolt" {
		perSession = nodeRSSPerSessionBolt
	}
	perSession += float64(subs-measuredSubscriptions) * c.NodeRSSPerSubscription
	var out []modelCheck
	if store != "bolt" {
		out = append(out, modelCheck{"Redis commands/s", float64(conns)*c.RedisCommandsPerSessionSecond + changesPerSec*c.RedisCommandsPerChange, med("redis_commands_per_s")})
	}
	out = append(out, modelCheck{"resident memory per node (B)", c.NodeBaseRSS + float64(conns)/float64(nodes)*perSession, med("server_rss_after_per_node")})
	return out
}

// checkModel prints modelChecks for an idlecost run.
func checkModel(w io.Writer, reps []*report, store string, nodes, conns, subs int, changesPerSec float64) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "== model check (%s, %d node(s), %d sessions, %d subscriptions each; tolerance %.0f%%)\n", store, nodes, conns, subs, 100*modelTolerance)
	fmt.Fprintln(tw, "figure\tpredicted\tmeasured (median)\tdifference\tverdict")
	for _, m := range modelChecks(reps, measuredCosts, store, nodes, conns, subs, changesPerSec) {
		verdict := "WITHIN"
		if !m.ok() {
			verdict = "OUTSIDE"
		}
		fmt.Fprintf(tw, "%s\t%.6g\t%.6g\t%+.1f%%\t%s\n", m.Name, m.Predicted, m.Measure, 100*(m.Predicted-m.Measure)/m.Measure, verdict)
	}
	return tw.Flush()
}
