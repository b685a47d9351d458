package redistest

import "testing"

// The cluster side (creation, failover, restart of a master) is exercised
// by the multinode tests; this checks the single server and its restart.
func TestSingleServerRestarts(t *testing.T) {
	s := Start(t)
	if r, err := DoString(s.Addr(), "SET", "k", "v"); err != nil || r != "OK" {
		t.Fatal(r, err)
	}
	s.Kill()
	if _, err := DoString(s.Addr(), "PING"); err == nil {
		t.Fatal("a killed server answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if r, err := DoString(s.Addr(), "PING"); err != nil || r != "PONG" {
		t.Fatal(r, err)
	}
}
