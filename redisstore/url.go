package redisstore

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/rueidis"
)

// ParseURL parses a --redis-url: redis://[user:pass@]host:port[/db] for a
// single server, redis+cluster://[user:pass@]h1:p1,h2:p2,... for a cluster,
// and rediss:// or rediss+cluster:// for either over TLS. Query parameters
// are rueidis's (dial_timeout, skip_verify, client_name, ...). It reports
// whether the URL names a cluster.
func ParseURL(raw string) (opt rueidis.ClientOption, cluster bool, err error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return opt, false, fmt.Errorf("redis URL must start with redis://, rediss://, redis+cluster:// or rediss+cluster://")
	}
	switch scheme {
	case "redis", "rediss":
	case "redis+cluster", "rediss+cluster":
		cluster = true
		scheme = strings.TrimSuffix(scheme, "+cluster")
	default:
		return opt, false, fmt.Errorf("redis URL scheme %q is not one of redis, rediss, redis+cluster, rediss+cluster", scheme)
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if tail == "/" || strings.HasPrefix(tail, "/?") {
		tail = tail[1:] // an empty path is database 0; rueidis wants none
	}
	userinfo, hostlist := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hostlist = authority[:i+1], authority[i+1:]
	}
	hosts := strings.Split(hostlist, ",")
	for _, h := range hosts {
		if h == "" {
			return opt, false, fmt.Errorf("redis URL has an empty host")
		}
	}
	if len(hosts) > 1 && !cluster {
		return opt, false, fmt.Errorf("redis URL lists %d hosts: use redis+cluster:// for a cluster", len(hosts))
	}
	// rueidis takes further seed addresses as ?addr= parameters.
	if len(hosts) > 1 {
		extra := url.Values{}
		for _, h := range hosts[1:] {
			extra.Add("addr", h)
		}
		sep := "?"
		if strings.Contains(tail, "?") {
			sep = "&"
		}
		tail += sep + extra.Encode()
	}
	opt, err = rueidis.ParseURL(scheme + "://" + userinfo + hosts[0] + tail)
	if err != nil {
		return opt, false, redact(err, userinfo)
	}
	if cluster && opt.SelectDB != 0 {
		return opt, false, fmt.Errorf("redis URL selects database %d, but a cluster has only database 0", opt.SelectDB)
	}
	return opt, cluster, nil
}

// Redacted returns raw with any password replaced, for logs.
func Redacted(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "(invalid redis URL)"
	}
	at := strings.LastIndexByte(rest, '@')
	if end := strings.IndexAny(rest, "/?"); end >= 0 && at > end {
		at = -1
	}
	if at < 0 {
		return raw
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + "://" + user + ":***@" + rest[at+1:]
}

func redact(err error, userinfo string) error {
	if userinfo == "" {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), strings.TrimSuffix(userinfo, "@"), "***"))
}
