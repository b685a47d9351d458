package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// testCosts are round unit costs, so every expected figure below can be
// worked out by hand.
var testCosts = modelCosts{
	RedisCommandsPerDeploymentSecond: 100,
	RedisCommandsPerNodeSecond:       50,
	RedisCommandsPerSessionSecond:    1,
	RedisUsecPerCommand:              10,
	RedisBytesPerCommand:             100,
	RedisMemoryPerSession:            1000,
	RedisCommandsPerChange:           20,
	NodeBaseRSS:                      1 << 20,
	NodeRSSPerSession:                4000,
	NodeRSSPerSubscription:           100,
	NodeCPUPerSession:                1e-5,
	NodeCPUPerDelivery:               2e-5,
	UpdateFrameBytes:                 300,
	HeartbeatFrameBytes:              30,
	BoltPageWritesPerSessionMin:      0.6,
	BoltPageWritesPerNodeSecond:      2,
}

func testInput(users float64) modelInput {
	return modelInput{
		Users: users, SessionsPerUser: 2, WatchersPerUser: 20, ChangesPerHour: 36, RoomSize: 10,
		HeartbeatInterval: 15, NodeMemoryGB: 1, NodeCores: 2, ShardMemoryGB: 1, Headroom: 0.5,
	}
}

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

func TestPredictWorkedExample(t *testing.T) {
	o := predict(testInput(100000), testCosts)
	// 100,000 users × 2 sessions; 20 watchers over 2 sessions = 10 each.
	near(t, "sessions", o.Sessions, 200000)
	near(t, "subscriptions per session", o.SubsPerSession, 10)
	// 36 changes an hour = 0.01/s per user; each to 20 watchers + 10 room members.
	near(t, "changes/s", o.ChangesPerSecond, 1000)
	near(t, "deliveries/s", o.DeliveriesPerSec, 30000)
	// Memory: 200,000 × 4,000 B = 800 MB over (512 MiB − 1 MiB) per node
	// → 2 nodes; CPU: 2 + 0.6 cores over 1 core per node → 3 nodes.
	if o.Nodes != 3 {
		t.Errorf("nodes = %d, want 3 (bound by CPU)", o.Nodes)
	}
	near(t, "memory per node", o.NodeMemory, (1<<20)+200000.0/3*4000)
	near(t, "cores per node", o.NodeCPU, 2.6/3)
	// 100 for the deployment + 3 nodes × 50 + 200,000 × 1 idle + 1,000 ×
	// 20 per change.
	near(t, "store commands/s", o.StoreCommands, 220250)
	// 220,250 commands × 10 µs = 2.2 cores → 5 shards at half a core;
	// 200 MB of Redis fits in one.
	near(t, "Redis cores", o.RedisCores, 2.2025)
	if o.RedisShards != 5 {
		t.Errorf("Redis shards = %d, want 5", o.RedisShards)
	}
	near(t, "Redis memory", o.RedisMemory, 2e8)
	near(t, "client network", o.ClientNetwork, 200000*30/15.0+30000*300)
	near(t, "Redis network", o.RedisNetwork, 220250*100)
	near(t, "bolt page writes", o.BoltPageWrites, 2+200000*0.6/60)
}

func TestPredictBoundsAndSubscriptions(t *testing.T) {
	in := testInput(10)
	o := predict(in, testCosts)
	if o.Nodes != 1 || o.RedisShards != 1 {
		t.Errorf("a tiny deployment needs %d nodes and %d shards, want 1 and 1", o.Nodes, o.RedisShards)
	}
	// Memory-bound: no CPU cost, and 30 subscriptions per session (20 more
	// than measured: +2,000 B each).
	c := testCosts
	c.NodeCPUPerSession, c.NodeCPUPerDelivery = 0, 0
	in = testInput(1e6)
	in.WatchersPerUser = 60
	o = predict(in, c)
	perNode := float64(512<<20 - 1<<20)
	if want := int(math.Ceil(2e6 * 6000 / perNode)); o.Nodes != want {
		t.Errorf("memory-bound nodes = %d, want %d", o.Nodes, want)
	}
	// Redis memory-bound: 2e6 × 1,000 B = 2 GB over 512 MiB shards.
	c.RedisUsecPerCommand = 0
	o = predict(in, c)
	if want := int(math.Ceil(2e9 / (512 << 20))); o.RedisShards != want {
		t.Errorf("memory-bound shards = %d, want %d", o.RedisShards, want)
	}
}

func TestModelInputRefusesNonsense(t *testing.T) {
	for _, mut := range []func(*modelInput){
		func(in *modelInput) { in.Users = 0 },
		func(in *modelInput) { in.SessionsPerUser = 0 },
		func(in *modelInput) { in.Headroom = 1.5 },
		func(in *modelInput) { in.WatchersPerUser = -1 },
		func(in *modelInput) { in.HeartbeatInterval = math.NaN() },
		func(in *modelInput) { in.Users = 1e13 },
	} {
		in := testInput(1000)
		mut(&in)
		if err := in.validate(); err == nil {
			t.Errorf("accepted %+v", in)
		}
	}
	if err := testInput(1000).validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRunModelPrintsOneRowPerUserCount(t *testing.T) {
	var b bytes.Buffer
	if err := runModel(&b, []string{"--users", "10000000", "--sessions-per-user", "1.2"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 && len(lines) != 4 || !strings.Contains(lines[0], "1.2 sessions/user") || !strings.HasPrefix(strings.TrimSpace(lines[2]), "10M") {
		t.Fatalf("output:\n%s", b.String())
	}
	b.Reset()
	if err := runModel(&b, nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n != 7 && n != 8 {
		t.Fatalf("default table has %d lines, want 7 (assumptions, header, 10^4 … 10^8) and maybe the embedded store's line:\n%s", n, b.String())
	}
	if err := runModel(&b, []string{"--users", "-5"}); err == nil {
		t.Fatal("negative users accepted")
	}
}
