package main

// The capacity model's constants, each measured on this project's bench
// machine (bench/README.md describes it) with the command named in its
// comment, at commit 6bb6876, median of 3 runs; docs/capacity.md explains
// how they are used. When the server changes what an idle session or a
// change costs, re-run the command and change the number here:
// `presenced-bench model` and docs/capacity.md's tables follow from them.
//
// "The Redis runs" are
//
//	presenced-bench idlecost --store redis --conns 2000 --subs 10 --settle 20s --hold 30s
//	presenced-bench idlecost --store redis --conns 10000 --subs 10 --settle 20s --hold 30s
//
// and "the bolt run"
//
//	presenced-bench idlecost --store bolt --conns 10000 --subs 10 --settle 20s --hold 30s
const (
	// redisCommandsPerNodeSecond is what a node costs Redis whatever it
	// holds: the two Redis runs' medians (1,752 and 6,018 commands/s) fitted
	// as a line in the sessions, whose intercept is 686. By command, the
	// reaper's claim script polling 16 deadline shards (EVALSHA 319/s and
	// the ZRANGE inside it 317/s, commandstats counting both), and the
	// readiness checks (EXISTS 32/s, PING 16/s): 684/s.
	redisCommandsPerNodeSecond = 686

	// redisCommandsPerSessionSecond is the Redis commands one idle session
	// (10 subscriptions, heartbeats every 15 s) costs per second: that
	// line's slope, (6,018 − 1,752) / 8,000. By command, per heartbeat
	// interval: EVALSHA 2, HSET 2, HMGET 2, HGET 1, ZADD 1.
	redisCommandsPerSessionSecond = 0.533

	// redisUsecPerCommand is the mean time Redis spends executing one of
	// those commands (redis_usec_per_command, the 10,000-session run).
	redisUsecPerCommand = 4.65

	// redisBytesPerCommand is Redis's network traffic, in and out, per
	// command (redis_net_bytes_per_s / redis_commands_per_s, the
	// 10,000-session run: 441,583 / 6,018).
	redisBytesPerCommand = 73

	// redisMemoryPerSession is Redis's used_memory per session with 10
	// subscriptions (redis_memory_per_conn, the 10,000-session run).
	redisMemoryPerSession = 950

	// redisCommandsPerChange is the Redis commands one status change costs
	// beyond the idle cost, with 10 watchers: the 2,000-session run with
	// --changes-per-s 50 made 2,332 commands/s, (2,332 − 1,752) / 50.0.
	redisCommandsPerChange = 11.6

	// nodeBaseRSS is a node's resident memory with its first sessions: the
	// intercept of the line through the two Redis runs' server_rss_after
	// (49.3 MB at 2,000 sessions, 83.6 MB at 10,000). A fresh node holds
	// 15.8 MB; its first connections grow the Redis client's and the
	// connection layer's buffers and pools and the heap's headroom by
	// about 25 MB more, once.
	nodeBaseRSS = 40.7e6

	// nodeRSSPerSessionRedis is a node's resident memory per idle session
	// with 10 subscriptions on Redis: that line's slope, (83.6 − 49.3) MB /
	// 8,000. (server_rss_delta_per_conn of the 10,000-session run, which
	// counts the one-off growth above too, is 6,785 B.)
	nodeRSSPerSessionRedis = 4289

	// nodeRSSPerSubscription is the resident memory one more subscription
	// adds: (5,507 B, server_rss_delta_per_conn of the bolt run, − 3,980 B,
	// the same server's memory per idle connection without subscriptions,
	// bench/README.md "The core server's figures", 2026-11-30) / 10.
	nodeRSSPerSubscription = 153

	// nodeCPUPerSession is the share of a core one idle session costs its
	// node on Redis: the 10,000-session run's 9.8 % of a core over 10,000
	// sessions (the bolt run: 8.0 %).
	nodeCPUPerSession = 9.8e-6

	// nodeCPUPerDelivery is the node CPU time, in seconds, of one update
	// delivered to one subscriber: 20.7 µs, the fan-out figure of
	// bench/README.md's suite results (make bench, 2026-11-30).
	nodeCPUPerDelivery = 20.7e-6

	// updateFrameBytes is a presence_update as its receiver reads it
	// (received_bytes_per_update of the 2,000-session Redis run with
	// --changes-per-s 50).
	updateFrameBytes = 326

	// heartbeatFrameBytes is a client's heartbeat on the wire: the 20-byte
	// {"type":"heartbeat"} in a masked WebSocket frame (6 bytes of header),
	// protocol arithmetic rather than a measurement.
	heartbeatFrameBytes = 26

	// boltPageWritesPerSessionMinute is the embedded store's page writes
	// per idle session per minute (bolt_page_writes_per_conn_per_min, the
	// bolt run); it is not in the model's table, which sizes deployments
	// on Redis, and is here for the before/after table.
	boltPageWritesPerSessionMinute = 0.535
)
