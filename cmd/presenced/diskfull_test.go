package main_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallDisk mounts a tmpfs of size bytes for the test, so that the data
// file's disk can really fill up. It needs root (CI runs as root); elsewhere
// the test is skipped, except under CI, where a missing mount is a failure.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a small tmpfs (needs root): %v %s", err, out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file until the disk refuses more, and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return path
		}
	}
}

// TestDataDiskFull fills the data file's disk while the server runs: writes
// that need room are refused with unavailable (503 over HTTP) and nothing
// else breaks; once space returns, writes succeed again without a restart;
// and after a kill -9 the file opens with every acknowledged write in it.
func TestDataDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := build(t)
	dir := smallDisk(t, 4<<20)
	n := run(t, bin, dir)

	acked := map[string]string{} // path → body of every acknowledged write
	// put writes user i's settings (odd i) or presence (even i): the two
	// kinds of record, committed by different paths.
	put := func(i int) (int, string) {
		if i%2 == 0 {
			path := fmt.Sprintf("/v1/presence/u%05d", i)
			text := fmt.Sprintf("%0120d", i)
			code, body := n.call(t, "PUT", path+"/status", map[string]any{"custom_status": text})
			if code/100 == 2 {
				acked[path] = `"custom_status":"` + text + `"`
			}
			return code, body
		}
		path := fmt.Sprintf("/v1/users/u%05d/contacts", i)
		contacts := []string{fmt.Sprintf("a%0200d", i), fmt.Sprintf("b%0200d", i)}
		code, body := n.call(t, "PUT", path, map[string]any{"contacts": contacts})
		if code/100 == 2 {
			acked[path] = fmt.Sprintf(`{"contacts":[%q,%q]}`, contacts[0], contacts[1])
		}
		return code, body
	}
	for i := range 50 {
		if code, body := put(i); code != 204 && code != 200 {
			t.Fatalf("before the disk filled: %d %s", code, body)
		}
	}

	filler := fill(t, dir)
	refused, refusedKind := 0, [2]int{}
	for i := 50; i < 5000 && (refused < 20 || refusedKind[0] == 0 || refusedKind[1] == 0); i++ {
		code, body := put(i)
		switch {
		case code/100 == 2:
		case code == 503 && strings.Contains(body, `"code":"unavailable"`):
			refused++
			refusedKind[i%2]++
		default:
			t.Fatalf("a write on a full disk answered %d %s; want 2xx or 503 unavailable", code, body)
		}
	}
	if refusedKind[0] == 0 || refusedKind[1] == 0 {
		t.Fatalf("with the disk full, %d presence and %d settings writes were refused; want some of each", refusedKind[0], refusedKind[1])
	}
	// Reads still work and the node still reports itself alive.
	if code, body := n.call(t, "GET", "/v1/users/u00001/contacts", nil); code != 200 || body != acked["/v1/users/u00001/contacts"] {
		t.Fatalf("a read with the disk full = %d %s", code, body)
	}
	if code, _ := n.call(t, "GET", "/healthz", nil); code != 200 {
		t.Fatalf("/healthz with the disk full = %d", code)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 10000; ; i++ {
		code, body := put(i)
		if code/100 == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail after the disk has room again: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()
	r := run(t, bin, dir)
	for path, want := range acked {
		if got := r.must(t, "GET", path, nil); got != want && !strings.Contains(got, want) {
			t.Errorf("after the disk filled and a kill -9, GET %s = %s, want %s", path, got, want)
		}
	}
	t.Logf("%d writes acknowledged, %d refused while the disk was full", len(acked), refused)
}
