package redistest

import (
	"testing"
	"time"
)

func TestClusterStartsAndFailsOver(t *testing.T) {
	start := time.Now()
	c := StartCluster(t, 3, 1)
	t.Logf("cluster of %d nodes healthy in %s", len(c.Nodes), time.Since(start))
	if n := len(c.Masters()); n != 3 {
		t.Fatalf("%d masters, want 3", n)
	}
	m, err := c.MasterOf("some-key")
	if err != nil {
		t.Fatal(err)
	}
	m.Kill()
	start = time.Now()
	if err := c.WaitHealthy(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("replica took over in %s", time.Since(start))
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Masters()); n != 3 {
		t.Fatalf("%d masters after the old one rejoined, want 3", n)
	}
}

func TestSingle(t *testing.T) {
	s := Start(t)
	if r, err := DoString(s.Addr(), "PING"); err != nil || r != "PONG" {
		t.Fatal(r, err)
	}
}
