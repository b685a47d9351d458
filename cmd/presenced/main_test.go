package main

import (
	"flag"
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
