package server_test

import (
	"os"
	"sync"
	"testing"

	"github.com/presenced/presenced/internal/redistest"
)

// One Redis Cluster serves every multi-node test of the package; each test
// empties it first.
var shared struct {
	once    sync.Once
	dir     string
	cluster *redistest.Cluster
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.Kill()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedCluster returns the package's cluster, emptied.
func sharedCluster(t *testing.T) *redistest.Cluster {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "server-test-"); shared.err == nil {
			shared.cluster, shared.err = redistest.NewCluster(shared.dir, 3, 0)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	for _, m := range shared.cluster.Masters() {
		if _, err := redistest.Do(m.Addr(), "FLUSHALL"); err != nil {
			t.Fatal(err)
		}
	}
	return shared.cluster
}
