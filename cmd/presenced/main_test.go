package main

import (
	"flag"
	"runtime/debug"
	"testing"
	"time"
)

func TestEnvironmentSetsFlagsAndCommandLineWins(t *testing.T) {
	t.Setenv("PRESENCED_HEARTBEAT_TTL", "45s")
	t.Setenv("PRESENCED_OFFLINE_GRACE", "7s")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	ttl := fs.Duration("heartbeat-ttl", 30*time.Second, "")
	grace := fs.Duration("offline-grace", 5*time.Second, "")
	if err := applyEnv(fs); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--offline-grace=9s"}); err != nil {
		t.Fatal(err)
	}
	if *ttl != 45*time.Second || *grace != 9*time.Second {
		t.Fatalf("ttl %s grace %s", *ttl, *grace)
	}
}

func TestBadEnvironmentValueIsNamed(t *testing.T) {
	t.Setenv("PRESENCED_HEARTBEAT_TTL", "soon")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Duration("heartbeat-ttl", 30*time.Second, "")
	if err := applyEnv(fs); err == nil {
		t.Fatal("accepted PRESENCED_HEARTBEAT_TTL=soon")
	}
}

func TestRefusesToStartWithoutKeyOrDev(t *testing.T) {
	if err := run([]string{"--addr", "127.0.0.1:0"}); err == nil {
		t.Fatal("started without --jwt-secret, --jwt-public-key or --dev")
	}
}

func TestGCPercentBelowTenIsRefused(t *testing.T) {
	if err := run([]string{"--dev", "--addr", "127.0.0.1:0", "--gc-percent", "5"}); err == nil {
		t.Fatal("started with --gc-percent 5")
	}
}

func TestGCPercentDefaultYieldsToGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "80")
	debug.SetGCPercent(80)
	if err := setGCPercent(defaultGCPercent, false); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(80); got != 80 {
		t.Fatalf("the default replaced GOGC=80 with %d", got)
	}
	if err := setGCPercent(30, true); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(80); got != 30 {
		t.Fatalf("an explicit --gc-percent 30 left %d", got)
	}
}
