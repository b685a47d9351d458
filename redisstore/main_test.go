package redisstore

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/presenced/presenced/internal/redistest"
)

// One single server and one 3-master cluster serve every test of the
// package; each test uses its own key prefix.
var (
	shared struct {
		once    sync.Once
		dir     string
		single  *redistest.Server
		cluster *redistest.Cluster
		err     error
	}
	prefixSeq atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.single != nil {
		shared.single.Kill()
	}
	if shared.cluster != nil {
		shared.cluster.Kill()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func start(t testing.TB) {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "redisstore-test-"); shared.err != nil {
			return
		}
		if shared.single, shared.err = redistest.NewServer(shared.dir + "/single"); shared.err != nil {
			return
		}
		shared.cluster, shared.err = redistest.NewCluster(shared.dir+"/cluster", 3, 0)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
}

// redisURLs returns the test deployments: a single server and a cluster.
func redisURLs(t testing.TB) map[string]string {
	start(t)
	return map[string]string{"single": shared.single.URL(), "cluster": shared.cluster.URL()}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openNodes opens n backends on url sharing a fresh prefix, as n nodes of
// one deployment; they are closed when the test ends.
func openNodes(t testing.TB, url string, n int, mutate func(*Config)) []*Backend {
	t.Helper()
	prefix := fmt.Sprintf("t%d:", prefixSeq.Add(1))
	out := make([]*Backend, n)
	for i := range out {
		cfg := Config{URL: url, Prefix: prefix, Logger: quietLogger()}
		if mutate != nil {
			mutate(&cfg)
		}
		b, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		out[i] = b
	}
	return out
}
