package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/presenced/presenced/server"
)

// secretFiles holds the flags that name files of secrets, read once the
// command line is parsed.
type secretFiles struct {
	jwtSecret, apiKey string
	origins           string
	// warnings are logged once the logger exists.
	warnings []string
}

// authFlags declares the flags of auth, origins and the internal listener.
func authFlags(fs *flag.FlagSet, cfg *server.Config) *secretFiles {
	sf := &secretFiles{}
	fs.StringVar(&sf.jwtSecret, "jwt-secret-file", "", "file holding the HS256 secret (a trailing newline is ignored); keeps it out of the process list")
	fs.StringVar(&sf.apiKey, "api-key-file", "", "file holding the backend API key (a trailing newline is ignored)")
	fs.StringVar(&cfg.JWTJWKSURL, "jwt-jwks-url", "", "identity provider's JWKS URL: RS256/ES256/EdDSA tokens are verified with its keys, chosen by kid")
	fs.DurationVar(&cfg.JWTJWKSRefresh, "jwt-jwks-refresh", 5*60e9, "how often the JWKS is fetched again (it is also fetched on an unknown kid, at most every 30s)")
	fs.StringVar(&cfg.JWTIssuer, "jwt-issuer", "", "required iss of client tokens; any when empty")
	fs.StringVar(&cfg.JWTAudience, "jwt-audience", "", "required aud of client tokens (one of the token's); any when empty")
	fs.StringVar(&sf.origins, "allowed-origins", "", "comma-separated origins browsers may open WebSockets from (https://app.example.com, https://*.example.com, *); default any, or only localhost/127.0.0.1 pages with --dev")
	fs.StringVar(&cfg.InternalAddr, "internal-addr", "", "serve /metrics, /healthz, /readyz and pprof on this private address (e.g. 127.0.0.1:7701); /metrics then leaves the public port")
	return sf
}

// apply reads the secret files into cfg and splits the origins. A secret
// given both as a value and as a file is refused: which one wins would be a
// guess.
func (sf *secretFiles) apply(fs *flag.FlagSet, cfg *server.Config) error {
	for _, f := range []struct {
		name, file string
		value      *string
	}{
		{"jwt-secret", sf.jwtSecret, &cfg.JWTSecret},
		{"api-key", sf.apiKey, &cfg.APIKey},
	} {
		if f.file == "" {
			continue
		}
		if *f.value != "" {
			return fmt.Errorf("set --%s or --%s-file, not both", f.name, f.name)
		}
		v, err := readSecret(f.file)
		if err != nil {
			return fmt.Errorf("--%s-file: %w", f.name, err)
		}
		*f.value = v
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "jwt-secret" || f.Name == "api-key" {
			sf.warnings = append(sf.warnings, "--"+f.Name+" on the command line is visible to every user of the machine; use --"+f.Name+"-file or PRESENCED_"+strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")))
		}
	})
	for _, o := range strings.Split(sf.origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
		}
	}
	return nil
}

// readSecret returns a file's content without one trailing newline (what
// echo and most editors add). An empty secret is refused.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
