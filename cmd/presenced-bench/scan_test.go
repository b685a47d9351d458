//go:build linux

package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
)

// The scanner must read what the server really writes, so the frames here
// come from the server's own encoders.

func TestScanUpdateReadsTheServersFrame(t *testing.T) {
	p := presence.Presence{UserID: "al\"ice", Status: presence.StatusBusy, CustomStatus: `bench 123 4 "quoted" \ ok`,
		LastSeen: time.UnixMilli(1797990000250), Device: "web", Devices: []presence.Device{{Device: "web"}}, V: 17}
	frame := append([]byte(`{"type":"presence_update","presence":`), p.AppendJSON(nil)...)
	frame = append(frame, '}')
	u, ok := scanUpdate(frame)
	if !ok {
		t.Fatalf("scanUpdate(%s) failed", frame)
	}
	want := update{user: p.UserID, status: "busy", custom: p.CustomStatus, lastSeenMS: 1797990000250, v: 17}
	if u != want {
		t.Fatalf("got %+v\nwant %+v", u, want)
	}
	if typ, id := header(frame); typ != "presence_update" || id != "" {
		t.Fatalf("header = %q %q", typ, id)
	}
}

func TestScanNullsAndSnapshot(t *testing.T) {
	ps := []presence.Presence{
		{UserID: "bob", Status: presence.StatusOffline},
		{UserID: "carol", Status: presence.StatusOnline, LastSeen: time.UnixMilli(1000), V: 3},
	}
	frame := hub.EncodePresences("initial_presence", []byte("42"), ps)
	if typ, id := header(frame); typ != "initial_presence" || id != "42" {
		t.Fatalf("header = %q %q", typ, id)
	}
	snap, ok := scanSnapshot(frame)
	if !ok || len(snap) != 2 {
		t.Fatalf("snapshot = %+v %v", snap, ok)
	}
	if b := snap["bob"]; b.status != "offline" || b.custom != "" || b.lastSeenMS != 0 {
		t.Fatalf("bob = %+v", b)
	}
	if c := snap["carol"]; c.status != "online" || c.lastSeenMS != 1000 || c.v != 3 {
		t.Fatalf("carol = %+v", c)
	}
}

func TestHeaderFallsBackToJSON(t *testing.T) {
	if typ, id := header([]byte(` {"id":"x","type":"ack"}`)); typ != "ack" || id != `"x"` {
		t.Fatalf("header = %q %q", typ, id)
	}
	if _, ok := scanUpdate([]byte(`{"type":"ack"}`)); ok {
		t.Fatal("scanUpdate accepted an ack")
	}
}

func TestPercentileAndMedian(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct{ p, want float64 }{{50, 3}, {99, 5}, {100, 5}, {0, 1}, {20, 1}, {21, 2}} {
		if got := percentile(xs, c.p); got != c.want {
			t.Errorf("p%g = %g, want %g", c.p, got, c.want)
		}
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median = %g", m)
	}
	if !math.IsNaN(percentile(nil, 50)) || !math.IsNaN(median(nil)) {
		t.Error("empty input must give NaN")
	}
}

func TestReportJSONKeepsOrderAndNulls(t *testing.T) {
	r := newReport("x", "r1")
	r.param("n", 3)
	r.add("b", 1.23456, "ms")
	r.add("a", math.NaN(), "ms")
	r.check("t", 1, "<=", 2, "ms")
	got := string(r.JSON())
	want := `"params":{"n":3},"results":{"b":1.235,"a":null},"targets":[{"name":"t","value":1,"op":"\u003c=","limit":2,"unit":"ms","pass":true}]`
	if !strings.Contains(got, want) {
		t.Fatalf("JSON = %s\nwant it to contain %s", got, want)
	}
}

func TestBadArgumentsFailBeforeConnecting(t *testing.T) {
	// Port 1 on loopback: nothing listens, and nothing may be dialled.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, "unknown scenario"},
		{[]string{"idle", "--url", "ftp://127.0.0.1:1"}, "--url"},
		{[]string{"idle", "--url", "http://127.0.0.1:1", "--conns", "200000"}, "allowed 1–100000"},
		{[]string{"idle", "--url", "http://127.0.0.1:1", "--per-worker", "20000"}, "--per-worker"},
		{[]string{"fanout", "--url", "http://127.0.0.1:1", "--changes", "0"}, "--changes"},
		{[]string{"heartbeat", "--url", "http://127.0.0.1:1", "--rate", "5000"}, "--rate"},
		{[]string{"churn", "--url", "http://127.0.0.1:1", "--storms", "0"}, "--storms"},
		{[]string{"bulk", "--url", "http://127.0.0.1:1", "--concurrency", "100"}, "--concurrency"},
		{[]string{"suite", "--size", "huge"}, "--size"},
		{[]string{"idle", "extra"}, "unexpected arguments"},
	} {
		err := run(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want it to mention %q", c.args, err, c.want)
		}
	}
}
