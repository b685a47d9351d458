package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// modelInput is a deployment to size: its users and how they behave, and
// the machines it runs on. docs/capacity.md states the defaults' reasons.
type modelInput struct {
	Users float64
	// SessionsPerUser is connected sessions (devices, tabs) per user.
	SessionsPerUser float64
	// WatchersPerUser is the subscriptions watching each user: the
	// deployment holds Users × WatchersPerUser subscriptions, spread over
	// the sessions.
	WatchersPerUser float64
	// ChangesPerHour is visible changes per user per hour: connects, ends,
	// away, status and activity changes.
	ChangesPerHour float64
	// RoomSize is the members of the rooms a user is in who also receive
	// each change (0: no rooms).
	RoomSize float64
	// HeartbeatInterval is the clients' heartbeat period, in seconds.
	HeartbeatInterval float64
	NodeMemoryGB      float64
	NodeCores         float64
	ShardMemoryGB     float64
	// Headroom is the share of a node's or a shard's memory and CPU the
	// plan fills, leaving the rest for bursts and a failed peer's load.
	Headroom float64
}

// modelCosts are the measured unit costs (model_constants.go); tests give
// their own.
type modelCosts struct {
	// RedisCommandsPerDeploymentSecond is what the deployment costs Redis
	// whatever its nodes and sessions: work the live nodes share out among
	// themselves, so that it does not grow with their number.
	RedisCommandsPerDeploymentSecond float64
	RedisCommandsPerNodeSecond       float64
	RedisCommandsPerSessionSecond    float64
	RedisUsecPerCommand              float64
	RedisBytesPerCommand             float64
	RedisMemoryPerSession            float64
	RedisCommandsPerChange           float64
	NodeBaseRSS                      float64
	NodeRSSPerSession                float64 // with 10 subscriptions
	NodeRSSPerSubscription           float64
	NodeCPUPerSession                float64 // cores
	NodeCPUPerDelivery               float64 // seconds
	UpdateFrameBytes                 float64
	HeartbeatFrameBytes              float64
	BoltPageWritesPerSessionMin      float64
	BoltPageWritesPerNodeSecond      float64
}

// measuredCosts are the constants of model_constants.go, for a deployment
// on Redis (several nodes share their state there).
var measuredCosts = modelCosts{
	RedisCommandsPerDeploymentSecond: redisCommandsPerDeploymentSecond,
	RedisCommandsPerNodeSecond:       redisCommandsPerNodeSecond,
	RedisCommandsPerSessionSecond:    redisCommandsPerSessionSecond,
	RedisUsecPerCommand:              redisUsecPerCommand,
	RedisBytesPerCommand:             redisBytesPerCommand,
	RedisMemoryPerSession:            redisMemoryPerSession,
	RedisCommandsPerChange:           redisCommandsPerChange,
	NodeBaseRSS:                      nodeBaseRSS,
	NodeRSSPerSession:                nodeRSSPerSessionRedis,
	NodeRSSPerSubscription:           nodeRSSPerSubscription,
	NodeCPUPerSession:                nodeCPUPerSession,
	NodeCPUPerDelivery:               nodeCPUPerDelivery,
	UpdateFrameBytes:                 updateFrameBytes,
	HeartbeatFrameBytes:              heartbeatFrameBytes,
	BoltPageWritesPerSessionMin:      boltPageWritesPerSessionMinute,
	BoltPageWritesPerNodeSecond:      boltPageWritesPerNodeSecond,
}

// measuredSubscriptions is the subscriptions per session the memory and
// idle-cost constants were measured with.
const measuredSubscriptions = 10

// modelOutput is what a deployment needs.
type modelOutput struct {
	Sessions         float64
	SubsPerSession   float64
	ChangesPerSecond float64
	DeliveriesPerSec float64
	StoreCommands    float64 // Redis commands per second
	Nodes            int
	NodeMemory       float64 // bytes per node
	NodeCPU          float64 // cores per node
	RedisShards      int
	RedisMemory      float64 // bytes, over all shards
	RedisCores       float64 // cores Redis spends executing commands
	ClientNetwork    float64 // bytes per second, clients ↔ nodes, both ways
	RedisNetwork     float64 // bytes per second, nodes ↔ Redis
	// BoltPageWrites is the page writes per second of the same sessions
	// on one node's embedded store instead of Redis (meaningful when
	// Nodes is 1).
	BoltPageWrites float64
}

func (in modelInput) validate() error {
	for _, f := range []struct {
		name string
		v    float64
		min  float64
	}{
		{"--users", in.Users, 1}, {"--sessions-per-user", in.SessionsPerUser, 0.01},
		{"--watchers-per-user", in.WatchersPerUser, 0}, {"--changes-per-hour", in.ChangesPerHour, 0},
		{"--room-size", in.RoomSize, 0}, {"--heartbeat-interval", in.HeartbeatInterval, 1},
		{"--node-memory-gb", in.NodeMemoryGB, 0.1}, {"--node-cores", in.NodeCores, 0.1},
		{"--shard-memory-gb", in.ShardMemoryGB, 0.1}, {"--headroom", in.Headroom, 0.01},
	} {
		if math.IsNaN(f.v) || f.v < f.min || f.v > 1e12 {
			return fmt.Errorf("%s must be a number from %g to 1e12, not %g", f.name, f.min, f.v)
		}
	}
	if in.Headroom > 1 {
		return errors.New("--headroom must be at most 1")
	}
	return nil
}

// predict sizes the deployment in for the costs c (docs/capacity.md has
// the formulas in words).
func predict(in modelInput, c modelCosts) modelOutput {
	var o modelOutput
	o.Sessions = in.Users * in.SessionsPerUser
	o.SubsPerSession = in.WatchersPerUser / in.SessionsPerUser
	o.ChangesPerSecond = in.Users * in.ChangesPerHour / 3600
	o.DeliveriesPerSec = o.ChangesPerSecond * (in.WatchersPerUser + in.RoomSize)
	perSession := max(c.NodeRSSPerSession+(o.SubsPerSession-measuredSubscriptions)*c.NodeRSSPerSubscription, 0)
	cpu := o.Sessions*c.NodeCPUPerSession + o.DeliveriesPerSec*c.NodeCPUPerDelivery
	usable := in.NodeMemoryGB*(1<<30)*in.Headroom - c.NodeBaseRSS
	nodes := 1.0
	if usable > 0 {
		nodes = max(nodes, math.Ceil(o.Sessions*perSession/usable))
	} else {
		nodes = math.Inf(1)
	}
	nodes = max(nodes, math.Ceil(cpu/(in.NodeCores*in.Headroom)))
	o.Nodes = int(min(nodes, math.MaxInt32))
	o.NodeMemory = c.NodeBaseRSS + o.Sessions/nodes*perSession
	o.NodeCPU = cpu / nodes
	o.StoreCommands = c.redisCommands(nodes, o.Sessions, o.ChangesPerSecond)

	o.RedisCores = o.StoreCommands * c.RedisUsecPerCommand / 1e6
	o.RedisMemory = o.Sessions * c.RedisMemoryPerSession
	// Redis runs commands on one core, so a shard's budget is a core.
	shards := max(1, math.Ceil(o.RedisCores/in.Headroom), math.Ceil(o.RedisMemory/(in.ShardMemoryGB*(1<<30)*in.Headroom)))
	o.RedisShards = int(min(shards, math.MaxInt32))

	o.ClientNetwork = o.Sessions*c.HeartbeatFrameBytes/in.HeartbeatInterval + o.DeliveriesPerSec*c.UpdateFrameBytes
	o.RedisNetwork = o.StoreCommands * c.RedisBytesPerCommand
	o.BoltPageWrites = c.BoltPageWritesPerNodeSecond + o.Sessions*c.BoltPageWritesPerSessionMin/60
	return o
}

// redisCommands is the store commands per second of a deployment of n
// nodes holding s sessions with ch changes a second; the capacity check
// predicts a measured run with the same sum.
func (c modelCosts) redisCommands(n, s, ch float64) float64 {
	return c.RedisCommandsPerDeploymentSecond + n*c.RedisCommandsPerNodeSecond + s*c.RedisCommandsPerSessionSecond + ch*c.RedisCommandsPerChange
}

func defaultModelInput() modelInput {
	return modelInput{
		SessionsPerUser: 1.5, WatchersPerUser: 20, ChangesPerHour: 6, RoomSize: 0,
		HeartbeatInterval: 15, NodeMemoryGB: 16, NodeCores: 8, ShardMemoryGB: 16, Headroom: 0.5,
	}
}

// runModel prints the model's table: for --users, or for 10^4 to 10^8.
func runModel(w io.Writer, args []string) error {
	in := defaultModelInput()
	fs := flag.NewFlagSet("model", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Float64Var(&in.Users, "users", 0, "connected users at the peak (default: a row for each of 10^4 … 10^8)")
	fs.Float64Var(&in.SessionsPerUser, "sessions-per-user", in.SessionsPerUser, "connected sessions (devices, tabs) per user")
	fs.Float64Var(&in.WatchersPerUser, "watchers-per-user", in.WatchersPerUser, "subscriptions watching each user")
	fs.Float64Var(&in.ChangesPerHour, "changes-per-hour", in.ChangesPerHour, "visible presence changes per user per hour")
	fs.Float64Var(&in.RoomSize, "room-size", in.RoomSize, "room members who also receive each change of a user (0: no rooms)")
	fs.Float64Var(&in.HeartbeatInterval, "heartbeat-interval", in.HeartbeatInterval, "clients' heartbeat interval, seconds")
	fs.Float64Var(&in.NodeMemoryGB, "node-memory-gb", in.NodeMemoryGB, "memory of a node's machine, GiB")
	fs.Float64Var(&in.NodeCores, "node-cores", in.NodeCores, "cores of a node's machine")
	fs.Float64Var(&in.ShardMemoryGB, "shard-memory-gb", in.ShardMemoryGB, "memory of a Redis shard's machine, GiB")
	fs.Float64Var(&in.Headroom, "headroom", in.Headroom, "share of a node's or shard's memory and CPU the plan uses (0–1)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	users := []float64{1e4, 1e5, 1e6, 1e7, 1e8}
	if in.Users != 0 {
		users = []float64{in.Users}
	} else {
		in.Users = 1e4
	}
	if err := in.validate(); err != nil {
		return err
	}
	fmt.Fprintf(w, "assumptions: %g sessions/user, %g watchers/user, %g changes/user/hour, room size %g, heartbeat %gs; nodes of %g GiB and %g cores, Redis shards of %g GiB and 1 core, filled to %g%%\n",
		in.SessionsPerUser, in.WatchersPerUser, in.ChangesPerHour, in.RoomSize, in.HeartbeatInterval, in.NodeMemoryGB, in.NodeCores, in.ShardMemoryGB, 100*in.Headroom)
	printModelTable(w, in, users, measuredCosts)
	return nil
}

func printModelTable(w io.Writer, in modelInput, users []float64, c modelCosts) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "users\tsessions\tnodes\tmemory/node\tcores/node\tRedis cmds/s\tRedis shards\tRedis memory\tclient net\tRedis net\t")
	var single []string
	for _, u := range users {
		in.Users = u
		o := predict(in, c)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.2f\t%s\t%d\t%s\t%s/s\t%s/s\t\n", si(u), si(o.Sessions), o.Nodes, bytesIEC(o.NodeMemory), o.NodeCPU,
			si(o.StoreCommands), o.RedisShards, bytesIEC(o.RedisMemory), bytesIEC(o.ClientNetwork), bytesIEC(o.RedisNetwork))
		if o.Nodes == 1 {
			single = append(single, fmt.Sprintf("%s users: %s page writes/s", si(u), si(o.BoltPageWrites)))
		}
	}
	tw.Flush()
	if len(single) > 0 {
		fmt.Fprintf(w, "one node on the embedded store instead of Redis: %s\n", strings.Join(single, "; "))
	}
}

// si writes x with a k/M/G suffix and three significant digits.
func si(x float64) string {
	for _, u := range []struct {
		div float64
		sfx string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(x) >= u.div {
			return fmt.Sprintf("%.3g%s", x/u.div, u.sfx)
		}
	}
	return fmt.Sprintf("%.3g", x)
}

// bytesIEC writes a byte count in KiB/MiB/GiB/TiB.
func bytesIEC(x float64) string {
	for _, u := range []struct {
		div float64
		sfx string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if math.Abs(x) >= u.div {
			return fmt.Sprintf("%.3g %s", x/u.div, u.sfx)
		}
	}
	return fmt.Sprintf("%.3g B", x)
}
