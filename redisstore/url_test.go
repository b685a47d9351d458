package redisstore

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		cluster bool
		addrs   []string
		user    string
		pass    string
		db      int
		tls     bool
	}{
		{url: "redis://127.0.0.1:6379", addrs: []string{"127.0.0.1:6379"}},
		{url: "redis://:secret@h:1/3", addrs: []string{"h:1"}, pass: "secret", db: 3},
		{url: "redis://me:p%40ss@h:1/0", addrs: []string{"h:1"}, user: "me", pass: "p@ss"},
		{url: "rediss://h:6380", addrs: []string{"h:6380"}, tls: true},
		{url: "redis+cluster://a:1,b:2,c:3", cluster: true, addrs: []string{"a:1", "b:2", "c:3"}},
		{url: "rediss+cluster://u:p@a:1,b:2/?dial_timeout=1s", cluster: true, addrs: []string{"a:1", "b:2"}, user: "u", pass: "p", tls: true},
	} {
		opt, cluster, err := ParseURL(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if cluster != tc.cluster || strings.Join(opt.InitAddress, ",") != strings.Join(tc.addrs, ",") ||
			opt.Username != tc.user || opt.Password != tc.pass || opt.SelectDB != tc.db || (opt.TLSConfig != nil) != tc.tls {
			t.Fatalf("%s: cluster %v addrs %v user %q pass %q db %d tls %v", tc.url, cluster, opt.InitAddress, opt.Username, opt.Password, opt.SelectDB, opt.TLSConfig != nil)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	for url, want := range map[string]string{
		"localhost:6379":           "must start with",
		"http://h:1":               "not one of",
		"redis://a:1,b:2":          "use redis+cluster://",
		"redis+cluster://a:1,,b:2": "empty host",
		"redis+cluster://a:1/2":    "only database 0",
		"redis://h:1/x":            "invalid database",
	} {
		if _, _, err := ParseURL(url); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", url, err, want)
		}
	}
}

func TestRedactedHidesPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:secret@h:1/0":         "redis://:***@h:1/0",
		"redis+cluster://u:s@a:1,b:2":   "redis+cluster://u:***@a:1,b:2",
		"redis://h:1":                   "redis://h:1",
		"rediss://h:1/?client_name=a@b": "rediss://h:1/?client_name=a@b",
	} {
		if got := Redacted(in); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", in, got, want)
		}
	}
}
