package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of local redis-server processes.
type Cluster struct {
	Nodes []*Server
}

// ClusterNodeTimeout is the cluster-node-timeout of test clusters: a failed
// master is replaced by its replica a second or two after it stops.
const ClusterNodeTimeout = 1000 * time.Millisecond

// StartCluster runs masters × (1 + replicas) cluster-enabled servers, joins
// them with redis-cli --cluster create, and waits until every slot is
// served and every replica is in sync.
func StartCluster(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	Require(t)
	c, err := startCluster(t.TempDir(), masters, replicas)
	if c != nil {
		t.Cleanup(c.Kill)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewCluster is StartCluster for a caller that owns the processes (a
// TestMain sharing one cluster between tests): it must call Kill, also
// after an error.
func NewCluster(dir string, masters, replicas int) (*Cluster, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	return startCluster(dir, masters, replicas)
}

func startCluster(dir string, masters, replicas int) (*Cluster, error) {
	c := &Cluster{}
	n := masters * (1 + replicas)
	for i := range n {
		d := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return c, err
		}
		s, err := startFresh(d, true, []string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout / time.Millisecond)),
			"--cluster-replica-validity-factor", "0",
		})
		if err != nil {
			return c, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	for _, s := range c.Nodes {
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		return c, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	return c, c.WaitHealthy(30 * time.Second)
}

// URL returns the cluster's --redis-url.
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		addrs[i] = s.Addr()
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

// Kill stops every node.
func (c *Cluster) Kill() {
	for _, s := range c.Nodes {
		s.Kill()
	}
}

// WaitHealthy waits until every running node reports cluster_state:ok with
// all 16384 slots served, and every running replica's link to its master
// is up.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = c.healthy(); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("cluster not healthy after %s: %v", timeout, last)
}

func (c *Cluster) healthy() error {
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		info, err := DoString(s.Addr(), "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %v", s.Addr(), err)
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			return fmt.Errorf("%s: %s", s.Addr(), firstLines(info, 3))
		}
		repl, err := DoString(s.Addr(), "INFO", "replication")
		if err != nil {
			return fmt.Errorf("%s: %v", s.Addr(), err)
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return fmt.Errorf("%s: replica link down", s.Addr())
		}
	}
	return nil
}

// Masters returns the running nodes that are masters now.
func (c *Cluster) Masters() []*Server {
	var out []*Server
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		if role, err := Do(s.Addr(), "ROLE"); err == nil {
			if r, ok := role.([]any); ok && len(r) > 0 && r[0] == "master" {
				out = append(out, s)
			}
		}
	}
	return out
}

// MasterOf returns the running node that serves key's slot now, as the
// nodes themselves report it.
func (c *Cluster) MasterOf(key string) (*Server, error) {
	for _, s := range c.Masters() {
		slot, err := Do(s.Addr(), "CLUSTER", "KEYSLOT", key)
		if err != nil {
			continue
		}
		n, _ := slot.(int64)
		nodes, err := DoString(s.Addr(), "CLUSTER", "NODES")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(nodes, "\n") {
			f := strings.Fields(line)
			if len(f) < 9 || !strings.Contains(f[2], "myself") || !strings.Contains(f[2], "master") {
				continue
			}
			for _, r := range f[8:] {
				lo, hi, ok := strings.Cut(r, "-")
				if !ok {
					hi = lo
				}
				a, err1 := strconv.Atoi(lo)
				b, err2 := strconv.Atoi(hi)
				if err1 == nil && err2 == nil && int(n) >= a && int(n) <= b {
					return s, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("no running master serves %q", key)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " ")
}

// RequireFullCoverage sets cluster-require-full-coverage on every node.
// Off, the masters that are up keep serving their slots while another is
// down or frozen, as a cluster does whose lost master has no replica.
func (c *Cluster) RequireFullCoverage(on bool) error {
	v := "no"
	if on {
		v = "yes"
	}
	for _, s := range c.Nodes {
		if _, err := Do(s.Addr(), "CONFIG", "SET", "cluster-require-full-coverage", v); err != nil {
			return fmt.Errorf("%s: %v", s.Addr(), err)
		}
	}
	return nil
}

// SlotOwners maps each slot to the index in c.Nodes of the master serving
// it (CLUSTER SLOTS as a node sees it).
func (c *Cluster) SlotOwners() ([]int, error) {
	owner := make([]int, 16384)
	slots, err := Do(c.Nodes[0].Addr(), "CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	ranges, _ := slots.([]any)
	for _, r := range ranges {
		f, _ := r.([]any)
		lo, _ := f[0].(int64)
		hi, _ := f[1].(int64)
		node, _ := f[2].([]any)
		port, _ := node[1].(int64)
		idx := -1
		for i, s := range c.Nodes {
			if int64(s.Port) == port {
				idx = i
			}
		}
		if idx < 0 {
			return nil, fmt.Errorf("CLUSTER SLOTS names port %d, not a node of the cluster", port)
		}
		for s := lo; s <= hi; s++ {
			owner[s] = idx
		}
	}
	return owner, nil
}
