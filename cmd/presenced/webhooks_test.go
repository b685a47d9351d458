package main

import (
	"bytes"
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced/server"
	"github.com/presenced/presenced/webhook"
)

func TestWebhookURLsFromEnvironmentAndCommandLine(t *testing.T) {
	parse := func(args ...string) []string {
		t.Helper()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		var c server.WebhookConfig
		webhookFlags(fs, &c)
		if err := applyEnv(fs); err != nil {
			t.Fatal(err)
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return c.URLs
	}
	t.Setenv("PRESENCED_WEBHOOK_URL", "https://a.example/h, https://b.example/h")
	if got := parse(); !slices.Equal(got, []string{"https://a.example/h", "https://b.example/h"}) {
		t.Fatalf("from the environment: %q", got)
	}
	if got := parse("--webhook-url", "https://c.example/h", "--webhook-url", "https://d.example/h?x=1,2"); !slices.Equal(got, []string{"https://c.example/h", "https://d.example/h?x=1,2"}) {
		t.Fatalf("the command line replaces the environment: %q", got)
	}
	t.Setenv("PRESENCED_WEBHOOK_URL", "https://a.example/h,ftp://b.example")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	webhookFlags(fs, &server.WebhookConfig{})
	if err := applyEnv(fs); err == nil || !strings.Contains(err.Error(), "PRESENCED_WEBHOOK_URL") {
		t.Fatalf("a bad URL in the environment: %v", err)
	}
}

func TestGenWebhookSecret(t *testing.T) {
	var out bytes.Buffer
	if err := genWebhookSecret(&out); err != nil {
		t.Fatal(err)
	}
	if _, err := webhook.ParseSecret(strings.TrimSpace(out.String())); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
}

func TestBadWebhookSecretRefusesToStart(t *testing.T) {
	err := run([]string{"--dev", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--webhook-url", "http://127.0.0.1:9/hooks", "--webhook-secret", "whsec_dG9vc2hvcnQ="})
	if err == nil || !strings.Contains(err.Error(), "presenced gen-webhook-secret") {
		t.Fatalf("started, or without saying how to make a secret: %v", err)
	}
}
