package webhook_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/internal/webhooktest"
	"github.com/presenced/presenced/webhook"
)

// verifyScript checks deliveries read as JSON lines from stdin with the
// standardwebhooks package and prints one verdict per line.
const verifyScript = `
const { Webhook } = require("standardwebhooks");
const lines = require("fs").readFileSync(0, "utf8").trim().split("\n");
for (const line of lines) {
  const d = JSON.parse(line);
  try {
    const payload = new Webhook(d.secret).verify(d.body, d.headers);
    console.log("ok " + payload.id);
  } catch (e) {
    console.log("bad " + e.message);
  }
}
`

// TestStandardWebhooksNPM verifies real deliveries with the specification's
// own JavaScript library, and that it refuses a tampered body.
func TestStandardWebhooksNPM(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not installed: the standardwebhooks check is skipped")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the standardwebhooks check is skipped")
	}
	dir := t.TempDir()
	install := exec.Command(npm, "install", "--no-audit", "--no-fund", "--silent", "standardwebhooks@1")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Skipf("npm could not install standardwebhooks (offline?): %v\n%s", err, out)
	}
	secret, key := newSecret(t)
	rcv := webhooktest.NewReceiver(t, secret)
	ob := webhook.NewMemory([]string{rcv.URL()}, 0, nil)
	start(t, webhook.Config{URLs: []string{rcv.URL()}, Key: key, Outbox: ob})
	ob.Add(statusEvent("ann", 1, time.Now()), statusEvent("bob", 2, time.Now()))
	poll.Until(t, "a delivery", func() bool { return len(rcv.Accepted()) > 0 })
	d := rcv.Accepted()[0]

	var in bytes.Buffer
	line := func(body string) {
		hs := map[string]string{}
		for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			hs[k] = d.Header.Get(k)
		}
		b, _ := json.Marshal(map[string]any{"secret": secret, "headers": hs, "body": body})
		in.Write(append(b, '\n'))
	}
	line(string(d.Body))
	line(strings.Replace(string(d.Body), `"ann"`, `"eve"`, 1))
	script := filepath.Join(dir, "verify.js")
	if err := os.WriteFile(script, []byte(verifyScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(got) != 2 || got[0] != "ok "+d.Msg.ID || !strings.HasPrefix(got[1], "bad ") {
		t.Fatalf("standardwebhooks said %q; want the delivery accepted and the tampered copy refused", got)
	}
}
