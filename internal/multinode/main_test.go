package multinode_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/redistest"
	"github.com/presenced/presenced/internal/testproc"
)

// The binary under test, built once, and the Redis Cluster the tests
// share (3 masters, each with a replica for the failover test).
var (
	binary string
	shared struct {
		once    sync.Once
		cluster *redistest.Cluster
		err     error
	}
	workDir string
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "multinode:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "multinode-")
	if err != nil {
		return 1, err
	}
	workDir = dir
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "presenced")
	// go test puts its own go first on the PATH.
	if out, err := exec.Command("go", "build", "-o", binary, "github.com/presenced/presenced/cmd/presenced").CombinedOutput(); err != nil {
		return 1, fmt.Errorf("building presenced: %v\n%s", err, out)
	}
	defer func() {
		if shared.cluster != nil {
			shared.cluster.Kill()
		}
	}()
	return m.Run(), nil
}

// sharedCluster returns the cluster, healthy and emptied.
func sharedCluster(t *testing.T) *redistest.Cluster {
	t.Helper()
	shared.once.Do(func() {
		shared.cluster, shared.err = redistest.NewCluster(filepath.Join(workDir, "cluster"), 3, 1)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	c := shared.cluster
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Masters() {
		if _, err := redistest.Do(m.Addr(), "FLUSHALL"); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Timings of the test nodes: short, so that faults resolve quickly.
const (
	interval = 500 * time.Millisecond
	ttl      = 2 * time.Second
	grace    = 1 * time.Second
	apiKey   = "test-api-key"
)

// node is one presenced process.
type node struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	base string // http://host:port
	log  string
	done chan struct{}
}

// startNode runs presenced on a free port against redisURL, or on the
// embedded store when redisURL is empty.
func startNode(t *testing.T, name, redisURL string, extra ...string) *node {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--addr", "127.0.0.1:0", "--dev", "--api-key", apiKey}
	if redisURL != "" { // else the embedded store, in the --data-dir of extra
		args = append(args, "--redis-url", redisURL)
	}
	args = append(append(args,
		"--heartbeat-interval", interval.String(), "--heartbeat-ttl", ttl.String(), "--offline-grace", grace.String(),
		"--rate-limit", "1000", "--rate-burst", "1000",
		"--log-format", "json", "--shutdown-timeout", "3s",
	), extra...)
	cmd := exec.Command(binary, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := testproc.Start(cmd); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		defer logFile.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logFile.Write(append(line, '\n'))
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "presenced listening" {
				addr <- rec.Addr
			}
		}
		_, _ = io.Copy(logFile, stderr)
	}()
	go func() { _ = cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("log of %s:\n%s", name, tail(string(b), 4000))
		}
	})
	select {
	case a := <-addr:
		n.base = "http://" + a
	case <-n.done:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%s exited at start:\n%s", name, b)
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not start within 15s", name)
	}
	return n
}

// kill stops the process with SIGKILL, as a crash would.
func (n *node) kill() {
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// stop asks the process to shut down gracefully and waits for it.
func (n *node) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.t.Fatalf("%s did not stop within 10s of SIGTERM", n.name)
	}
}

// ready reports whether the node's /readyz says 200.
func (n *node) ready() bool {
	resp, err := http.Get(n.base + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
