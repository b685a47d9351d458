//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// report is one scenario run's outcome: printed as one JSON line (stdout)
// and a table (stderr).
type report struct {
	Scenario string
	RunID    string
	Date     time.Time
	Params   []kv
	Results  []kv
	Targets  []target
	Notes    []string
}

type kv struct {
	Key   string
	Value any
	Unit  string
}

// target is one of the targets checked against a result.
type target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Op    string  `json:"op"`
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit"`
	Pass  bool    `json:"pass"`
}

func newReport(scenario, runID string) *report {
	return &report{Scenario: scenario, RunID: runID, Date: time.Now().UTC()}
}

func (r *report) param(k string, v any) { r.Params = append(r.Params, kv{Key: k, Value: v}) }

func (r *report) add(k string, v any, unit string) {
	if f, ok := v.(float64); ok {
		v = round(f, 3)
	}
	r.Results = append(r.Results, kv{Key: k, Value: v, Unit: unit})
}

func (r *report) note(format string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(format, a...)) }

// check records whether value meets limit (op "<=" or ">=").
func (r *report) check(name string, value float64, op string, limit float64, unit string) {
	pass := !math.IsNaN(value) && ((op == "<=" && value <= limit) || (op == ">=" && value >= limit))
	r.Targets = append(r.Targets, target{Name: name, Value: round(value, 3), Op: op, Limit: limit, Unit: unit, Pass: pass})
}

// value returns the result named key as a number.
func (r *report) value(key string) (float64, bool) {
	for _, x := range r.Results {
		if x.Key == key {
			return toFloat(x.Value)
		}
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n)
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// JSON returns the report as one line of JSON, keys in report order.
func (r *report) JSON() []byte {
	var b bytes.Buffer
	b.WriteString(`{"scenario":`)
	writeJSON(&b, r.Scenario)
	b.WriteString(`,"run_id":`)
	writeJSON(&b, r.RunID)
	b.WriteString(`,"date":`)
	writeJSON(&b, r.Date.Format(time.RFC3339))
	b.WriteString(`,"params":`)
	writeObject(&b, r.Params)
	b.WriteString(`,"results":`)
	writeObject(&b, r.Results)
	b.WriteString(`,"targets":`)
	writeJSON(&b, r.Targets)
	if len(r.Notes) > 0 {
		b.WriteString(`,"notes":`)
		writeJSON(&b, r.Notes)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeObject(b *bytes.Buffer, kvs []kv) {
	b.WriteByte('{')
	for i, x := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(b, x.Key)
		b.WriteByte(':')
		writeJSON(b, x.Value)
	}
	b.WriteByte('}')
}

// writeJSON encodes v; NaN and infinities, which JSON lacks, become null.
func writeJSON(b *bytes.Buffer, v any) {
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		b.WriteString("null")
		return
	}
	if t, ok := v.([]target); ok {
		b.WriteByte('[')
		for i, x := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if math.IsNaN(x.Value) {
				x.Value = -1
			}
			enc, _ := json.Marshal(x)
			b.Write(enc)
		}
		b.WriteByte(']')
		return
	}
	enc, err := json.Marshal(v)
	if err != nil {
		enc, _ = json.Marshal(fmt.Sprint(v))
	}
	b.Write(enc)
}

// Table writes the report for people.
func (r *report) Table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "== %s (run %s, %s)\n", r.Scenario, r.RunID, r.Date.Format(time.RFC3339))
	var ps []string
	for _, p := range r.Params {
		ps = append(ps, fmt.Sprintf("%s=%v", p.Key, p.Value))
	}
	fmt.Fprintf(tw, "params\t%s\n", strings.Join(ps, " "))
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", x.Key, formatValue(x.Value), x.Unit)
	}
	for _, t := range r.Targets {
		verdict := "MET"
		if !t.Pass {
			verdict = "MISSED"
		}
		fmt.Fprintf(tw, "target: %s\t%s %s %s %s\t%s\n", t.Name, formatValue(t.Value), t.Op, formatValue(t.Limit), t.Unit, verdict)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(tw, "note\t%s\n", n)
	}
	tw.Flush()
}

func formatValue(v any) string {
	if f, ok := v.(float64); ok {
		if math.IsNaN(f) {
			return "n/a"
		}
		return fmt.Sprintf("%.6g", f)
	}
	return fmt.Sprint(v)
}
