package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
)

// build compiles the binary once per test.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "presenced")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type node struct {
	cmd  *exec.Cmd
	base string
}

var listening = regexp.MustCompile(`presenced listening"? addr=(\S+)`)

// run starts the binary on a free port and waits until it listens.
func run(t *testing.T, bin, dataDir string, flags ...string) *node {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--dev", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--api-key", "k", "--log-format", "text"}, flags...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return &node{cmd: cmd, base: "http://" + a}
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not start listening")
		return nil
	}
}

func (n *node) call(t *testing.T, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.base+path, rd)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (n *node) must(t *testing.T, method, path string, body any) string {
	t.Helper()
	code, b := n.call(t, method, path, body)
	if code/100 != 2 {
		t.Fatalf("%s %s = %d %s", method, path, code, b)
	}
	return b
}

// TestKilledServerKeepsAcknowledgedWrites makes acknowledged writes over
// HTTP and WebSocket, kills the process with SIGKILL right after the last
// reply, restarts it on the same data dir and finds every one of them.
func TestKilledServerKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := build(t)
	dir := t.TempDir()
	n := run(t, bin, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	n.must(t, "PUT", "/v1/users/alice/privacy", map[string]any{"visibility": "nobody", "last_seen_visibility": "contacts"})
	n.must(t, "PUT", "/v1/users/alice/contacts", map[string]any{"contacts": []string{"carol", "bob"}})
	n.must(t, "POST", "/v1/users/alice/blocks", map[string]any{"blocks": []string{"mallory"}})
	soon := time.Now().Add(1500 * time.Millisecond)
	n.must(t, "PUT", "/v1/presence/carol/status", map[string]any{"custom_status": "brb", "custom_status_expires_at": float64(soon.UnixMilli()) / 1000})

	bob, err := client.Dial(ctx, n.base, client.Options{UserID: "bob", Device: "web"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Drop()
	if err := bob.SetOnline(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	onlineAt := time.Now()
	later := time.Now().Add(24 * time.Hour).Unix()
	if err := bob.SetStatus(ctx, map[string]any{"status": "busy", "custom_status": "on a plane", "custom_emoji": "✈", "expires_at": later}); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []map[string]any{
		{"type": "set_privacy", "visibility": "everyone", "last_seen_visibility": "nobody"},
		{"type": "block", "user_id": "eve"},
	} {
		if _, err := bob.Request(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()
	for time.Now().Before(soon) { // carol's status must expire while the server is down
		time.Sleep(10 * time.Millisecond)
	}

	r := run(t, bin, dir)
	for path, want := range map[string]string{
		"/v1/users/alice/privacy":  `{"visibility":"nobody","last_seen_visibility":"contacts","invisible":false}`,
		"/v1/users/alice/contacts": `{"contacts":["bob","carol"]}`,
		"/v1/users/alice/blocks":   `{"blocks":["mallory"]}`,
		"/v1/users/bob/privacy":    `{"visibility":"everyone","last_seen_visibility":"nobody","invisible":false}`,
		"/v1/users/bob/blocks":     `{"blocks":["eve"]}`,
	} {
		if got := r.must(t, "GET", path, nil); got != want {
			t.Errorf("after SIGKILL, GET %s = %s, want %s", path, got, want)
		}
	}
	var p struct {
		Status, CustomStatus, CustomEmoji string
		LastSeen                          *float64
		V                                 uint64
	}
	body := r.must(t, "GET", "/v1/presence/bob", nil)
	if err := json.Unmarshal([]byte(strings.NewReplacer(`"custom_status"`, `"CustomStatus"`, `"custom_emoji"`, `"CustomEmoji"`, `"last_seen"`, `"LastSeen"`).Replace(body)), &p); err != nil {
		t.Fatal(err)
	}
	// Still in its grace after the restart (TestRestartKeepsSessionsInTheirGrace
	// follows it to its end), last seen at the previous run's end, the
	// custom status kept.
	if p.Status != "busy" || p.CustomStatus != "on a plane" || p.CustomEmoji != "✈" || p.LastSeen == nil ||
		*p.LastSeen < float64(onlineAt.Add(-time.Second).Unix()) || *p.LastSeen > float64(time.Now().Unix()) {
		t.Errorf("bob after SIGKILL = %s", body)
	}
	if body := r.must(t, "GET", "/v1/presence/carol", nil); !strings.Contains(body, `"custom_status":null`) {
		t.Errorf("carol's status expired while the server was down but is still there: %s", body)
	}
	// The manual busy survives: bob comes back busy.
	again, err := client.Dial(ctx, r.base, client.Options{UserID: "bob", Device: "web"})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Drop()
	if err := again.SetOnline(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if body := r.must(t, "GET", "/v1/presence/bob", nil); !strings.Contains(body, `"status":"busy"`) {
		t.Errorf("bob back online = %s", body)
	}
}

func TestRefusesToStartOnACorruptDataFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := build(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "presenced.db")
	junk := bytes.Repeat([]byte("this is not a database "), 2000)
	if err := os.WriteFile(file, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--dev", "--addr", "127.0.0.1:0", "--data-dir", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit = %v, want status 1", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the server started on a corrupt data file")
	}
	if !strings.Contains(stderr.String(), file) {
		t.Fatalf("stderr does not name the file:\n%s", stderr.String())
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(after, junk) {
		t.Fatal("the corrupt file was changed")
	}
}
