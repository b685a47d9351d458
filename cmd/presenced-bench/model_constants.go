package main

// The capacity model's constants, each measured on this project's bench
// machine (bench/README.md describes it) with the command named in its
// comment, on 2026-12-06 at commit 3e28c41 (node leases: an idle session
// writes nothing to the store), median of 3 runs; docs/capacity.md explains
// how they are used. When the server changes what an idle session or a
// change costs, re-run the command and change the number here:
// `presenced-bench model` and docs/capacity.md's tables follow from them.
// The runs are in bench/idle-after.jsonl.
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
	// redisCommandsPerDeploymentSecond is what a deployment costs Redis
	// whatever its nodes and sessions: the peeks at the 16 deadline
	// shards (a ZRANGE each), which the live nodes share out so that each
	// shard is read about once a second however many there are. Measured
	// as the Redis runs' ZRANGE rate less the one inside each lease
	// renewal: 18.35 − 0.97 = 17.4/s (the same in both runs).
	redisCommandsPerDeploymentSecond = 17.4

	// redisCommandsPerNodeSecond is what each node adds: its lease renewal
	// once a second, one script whose commands commandstats counts with it
	// (EVALSHA, EXISTS, ZADD, HSET, ZRANGE: 5 × 0.97/s), and the readiness
	// probe's PINGs (2.6/s on one Redis server). The Redis runs' total,
	// 24.8/s in both, less the deployment's 17.4. On a cluster the PINGs go
	// to every master (the 3-master check in docs/capacity.md: 4.6/s per
	// node), which this constant, measured on one server, does not count.
	redisCommandsPerNodeSecond = 7.4

	// redisCommandsPerSessionSecond is the Redis commands one idle session
	// (10 subscriptions, heartbeats every 15 s) costs per second: the slope
	// of the line through the Redis runs, (24.807 − 24.787) / 8,000. Zero
	// within the noise: the node's lease stands for its sessions.
	redisCommandsPerSessionSecond = 0.0000025

	// redisUsecPerCommand is the mean time Redis spends executing one of
	// those commands (redis_usec_per_command, the 10,000-session run; the
	// idle mix is now mostly scripts and range reads).
	redisUsecPerCommand = 9.87

	// redisBytesPerCommand is Redis's network traffic, in and out, per
	// command (redis_net_bytes_per_s / redis_commands_per_s, the
	// 10,000-session run: 2,196 / 24.81).
	redisBytesPerCommand = 88.5

	// redisMemoryPerSession is Redis's used_memory per session with 10
	// subscriptions (redis_memory_per_conn, the 10,000-session run).
	redisMemoryPerSession = 846

	// redisCommandsPerChange is the Redis commands one status change costs
	// beyond the idle cost, with 10 watchers: the 2,000-session run with
	// --changes-per-s 50 made 324.9 commands/s, (324.9 − 24.8) / 50; by
	// command, per change: HMGET 1 (the record's read), EVALSHA 1 (its
	// compare-and-set write) with HMGET 1, HSET 1 and TIME 1 inside it,
	// SPUBLISH 1 (the change to the other nodes). Before node leases: 11.6.
	redisCommandsPerChange = 6.0

	// nodeBaseRSS is a node's resident memory with its first sessions: the
	// intercept of the line through the two Redis runs' server_rss_after
	// (51.6 MB at 2,000 sessions, 90.4 MB at 10,000). A fresh node holds
	// about 17 MB; its first connections grow the Redis client's and the
	// connection layer's buffers and pools and the heap's headroom by
	// about 25 MB more, once.
	nodeBaseRSS = 41.9e6

	// nodeRSSPerSessionRedis is a node's resident memory per idle session
	// with 10 subscriptions on Redis: that line's slope, (90.39 − 51.61) MB
	// / 8,000. (server_rss_delta_per_conn of the 10,000-session run, which
	// counts the one-off growth above too, is 7,309 B; the bolt run's is
	// 5,652 B.)
	nodeRSSPerSessionRedis = 4848

	// nodeRSSPerSubscription is the resident memory one more subscription
	// adds: (5,507 B, server_rss_delta_per_conn of the bolt run before node
	// leases, − 3,980 B, the same server's memory per idle connection
	// without subscriptions, bench/README.md "The core server's figures",
	// 2026-11-30) / 10. Not measured again: node leases changed nothing a
	// subscription holds.
	nodeRSSPerSubscription = 153

	// nodeCPUPerSession is the share of a core one idle session costs its
	// node on Redis: the 10,000-session run's 7.26 % of a core over 10,000
	// sessions (the bolt run: 6.96 %).
	nodeCPUPerSession = 7.26e-6

	// nodeCPUPerDelivery is the node CPU time, in seconds, of one update
	// delivered to one subscriber: 20.7 µs, the fan-out figure of
	// bench/README.md's suite results (make bench, 2026-11-30). Node leases
	// did not change the delivery path.
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
	// per idle session per minute: none. The bolt run committed no record
	// change in its window (bolt_record_changes_per_conn_per_min 0).
	boltPageWritesPerSessionMinute = 0

	// boltPageWritesPerNodeSecond is what the embedded store writes
	// whatever the sessions: the node's lease, renewed in the file once a
	// second, one commit of about 3 pages (the bolt run's
	// bolt_page_writes_per_conn_per_min, 0.018, × 10,000 sessions / 60;
	// bolt_commits_per_s 1.0). Neither is in the model's table, which sizes
	// deployments on Redis; they give its line for one node on the
	// embedded store.
	boltPageWritesPerNodeSecond = 3.0
)
