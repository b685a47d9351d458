package main

// The capacity model's constants, each measured on this project's bench
// machine (bench/README.md describes it) with the command named in its
// comment; docs/capacity.md explains how they are used. When the server
// changes what an idle session or a change costs, re-run the command and
// change the number here: `presenced-bench model` and docs/capacity.md's
// tables follow from them.
const (
	// redisCommandsPerSessionSecond is the Redis commands one idle session
	// (10 subscriptions, heartbeats every 15 s) costs per second:
	// redis_commands_per_conn_per_s of
	//   presenced-bench idlecost --store redis --conns 2000 --subs 10 --settle 20s --hold 30s
	redisCommandsPerSessionSecond = 0

	// redisUsecPerCommand is the mean time Redis spends executing one of
	// those commands (redis_usec_per_command, same run).
	redisUsecPerCommand = 0

	// redisBytesPerCommand is Redis's network traffic, in and out, per
	// command (redis_net_bytes_per_s / redis_commands_per_s, same run).
	redisBytesPerCommand = 0

	// redisMemoryPerSession is Redis's used_memory per session with 10
	// subscriptions (redis_memory_per_conn, same run).
	redisMemoryPerSession = 0

	// redisCommandsPerChange is the Redis commands one status change costs
	// beyond the idle cost, with 10 watchers:
	//   presenced-bench idlecost --store redis --conns 2000 --subs 10 --settle 20s --hold 30s --changes-per-s 50
	// (redis_commands_per_s − the idle run's) / changes_sent_per_s.
	redisCommandsPerChange = 0

	// nodeBaseRSS is a node's resident memory before any connection, on
	// Redis (server_rss_before of the first command, one node).
	nodeBaseRSS = 0

	// nodeRSSPerSessionRedis is a node's resident memory per idle session
	// with 10 subscriptions on Redis: server_rss_delta_per_conn of
	//   presenced-bench idlecost --store redis --conns 10000 --subs 10 --settle 20s --hold 30s
	nodeRSSPerSessionRedis = 0

	// nodeRSSPerSessionBolt is the same on the embedded store:
	//   presenced-bench idlecost --store bolt --conns 10000 --subs 10 --settle 20s --hold 30s
	nodeRSSPerSessionBolt = 0

	// nodeRSSPerSubscription is the resident memory one more subscription
	// adds: (the bolt figure above − 3,980 B, the same server's memory per
	// idle connection without subscriptions, bench/README.md "The core
	// server's figures", 2026-11-30) / 10.
	nodeRSSPerSubscription = 0

	// nodeCPUPerSession is the share of a core one idle session costs its
	// node (server_cpu_during_hold / 100 / 10,000, the bolt run above).
	nodeCPUPerSession = 0

	// nodeCPUPerDelivery is the node CPU time, in seconds, of one update
	// delivered to one subscriber: 20.7 µs, the fan-out figure of
	// bench/README.md's suite results (make bench, 2026-11-30).
	nodeCPUPerDelivery = 20.7e-6

	// updateFrameBytes is a presence_update as its receiver reads it
	// (received_bytes_per_update of the changes run above).
	updateFrameBytes = 0

	// heartbeatFrameBytes is a client's heartbeat on the wire: the 20-byte
	// {"type":"heartbeat"} in a masked WebSocket frame (6 bytes of header),
	// protocol arithmetic rather than a measurement.
	heartbeatFrameBytes = 26

	// boltPageWritesPerSessionMinute is the embedded store's page writes
	// per idle session per minute (bolt_page_writes_per_conn_per_min, the
	// bolt run above).
	boltPageWritesPerSessionMinute = 0
)
