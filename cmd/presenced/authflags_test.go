package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/presenced/presenced/server"
)

func parseAuth(t *testing.T, args ...string) (server.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var cfg server.Config
	fs.StringVar(&cfg.JWTSecret, "jwt-secret", "", "")
	fs.StringVar(&cfg.APIKey, "api-key", "", "")
	sf := authFlags(fs, &cfg)
	if err := applyEnv(fs); err != nil {
		return cfg, err
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cfg, sf.apply(fs, &cfg)
}

func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretFiles(t *testing.T) {
	cfg, err := parseAuth(t, "--jwt-secret-file", secretFile(t, "0123456789abcdef0123\n"), "--api-key-file", secretFile(t, "key with spaces \r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JWTSecret != "0123456789abcdef0123" || cfg.APIKey != "key with spaces " {
		t.Fatalf("secret %q key %q: one trailing newline is dropped, nothing else", cfg.JWTSecret, cfg.APIKey)
	}
	// The environment names the file as it names every flag.
	t.Setenv("PRESENCED_API_KEY_FILE", secretFile(t, "from-env"))
	if cfg, err = parseAuth(t); err != nil || cfg.APIKey != "from-env" {
		t.Fatalf("key %q err %v", cfg.APIKey, err)
	}
}

func TestSecretValueAndFileRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--jwt-secret", "0123456789abcdef0123", "--jwt-secret-file", secretFile(t, "x")},
		{"--api-key", "k", "--api-key-file", secretFile(t, "x")},
	} {
		if _, err := parseAuth(t, args...); err == nil || !strings.Contains(err.Error(), "not both") {
			t.Errorf("%v: err = %v", args, err)
		}
	}
	if _, err := parseAuth(t, "--api-key-file", secretFile(t, "\n")); err == nil {
		t.Error("accepted an empty key file")
	}
	if _, err := parseAuth(t, "--api-key-file", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("accepted a missing key file")
	}
}

func TestSecretOnTheCommandLineWarns(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var cfg server.Config
	fs.StringVar(&cfg.APIKey, "api-key", "", "")
	sf := authFlags(fs, &cfg)
	if err := fs.Parse([]string{"--api-key", "k"}); err != nil {
		t.Fatal(err)
	}
	if err := sf.apply(fs, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(sf.warnings) != 1 || !strings.Contains(sf.warnings[0], "--api-key-file") {
		t.Fatalf("warnings %q", sf.warnings)
	}
}

func TestAllowedOriginsFlag(t *testing.T) {
	cfg, err := parseAuth(t, "--allowed-origins", " https://a.example.com, https://*.example.org ,")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.AllowedOrigins) != 2 || cfg.AllowedOrigins[1] != "https://*.example.org" {
		t.Fatalf("origins %q", cfg.AllowedOrigins)
	}
}
