// Package multinode tests presenced as it is deployed at scale: several
// presenced processes (the real binary, built by the tests) sharing one
// Redis Cluster, with clients spread over them, and the faults such a
// deployment meets: a node killed, a node restarted, a Redis master lost.
// It has no code of its own; see its tests. PRESENCED_BENCH=1 also runs
// the measurements reported in docs/redis.md.
package multinode
