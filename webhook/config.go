package webhook

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/presenced/presenced/metrics"
)

// Clock is the engine's time: reading it and waiting on it. Tests drive
// backoff and maximum age with a fake.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Limits of the configuration.
const (
	// MaxBatch bounds --webhook-batch-max.
	MaxBatch = 10000
	// MaxURLs bounds the number of --webhook-url.
	MaxURLs = 32
)

// Config configures an Engine. Zero values mean the documented defaults.
type Config struct {
	// URLs receive every event, each with its own queue. At least one.
	URLs []string
	// Key is the decoded signing secret (see ParseSecret).
	Key    []byte
	Outbox Outbox
	// Timeout bounds one delivery attempt. Zero means 5s.
	Timeout time.Duration
	// MaxAge is how long an event is retried before it is dropped. Zero
	// means 24h.
	MaxAge time.Duration
	// BatchMax is the most events in one message. Zero means 100.
	BatchMax int
	// BatchWait is the longest an event waits for others to share its
	// message. Zero means 50ms; negative means none.
	BatchWait time.Duration
	// RetryMin and RetryMax bound the backoff between attempts: the n-th
	// retry waits a random time up to RetryMin·2ⁿ⁻¹, at most RetryMax.
	// Zero means 1s and 5m.
	RetryMin, RetryMax time.Duration
	// PollInterval is how often an outbox without Notifier is read. Zero
	// means 1s.
	PollInterval time.Duration
	// Clock is the engine's time. Nil means the system clock.
	Clock Clock
	// Jitter picks a wait in [0, max]. Nil means uniformly at random
	// ("full jitter").
	Jitter func(max time.Duration) time.Duration
	// Client sends the requests. Nil means one that follows no redirect.
	Client  *http.Client
	Logger  *slog.Logger
	Metrics *metrics.Webhooks
}

func (c *Config) setDefaults() error {
	if len(c.URLs) == 0 {
		return fmt.Errorf("webhook: no URL")
	}
	if len(c.URLs) > MaxURLs {
		return fmt.Errorf("--webhook-url: at most %d URLs, %d given", MaxURLs, len(c.URLs))
	}
	seen := make(map[string]bool, len(c.URLs))
	for _, u := range c.URLs {
		if err := ValidateURL(u); err != nil {
			return err
		}
		if seen[u] {
			return fmt.Errorf("--webhook-url %s is given twice", Label(u))
		}
		seen[u] = true
	}
	if len(c.Key) < MinSecretBytes || len(c.Key) > MaxSecretBytes {
		return fmt.Errorf("webhook secret must decode to %d to %d bytes; %s", MinSecretBytes, MaxSecretBytes, secretHelp)
	}
	if c.Outbox == nil {
		return fmt.Errorf("webhook: Outbox is required")
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MaxAge == 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.BatchMax == 0 {
		c.BatchMax = 100
	}
	switch {
	case c.BatchWait == 0:
		c.BatchWait = 50 * time.Millisecond
	case c.BatchWait < 0:
		c.BatchWait = 0
	}
	if c.RetryMin == 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Minute
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("--webhook-timeout must be positive")
	case c.MaxAge < 0:
		return fmt.Errorf("--webhook-max-age must be positive")
	case c.BatchMax < 1 || c.BatchMax > MaxBatch:
		return fmt.Errorf("--webhook-batch-max must be 1 to %d, not %d", MaxBatch, c.BatchMax)
	case c.RetryMin < 0 || c.RetryMax < c.RetryMin:
		return fmt.Errorf("webhook: RetryMin must be positive and at most RetryMax")
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Jitter == nil {
		c.Jitter = func(max time.Duration) time.Duration { return rand.N(max + 1) }
	}
	if c.Client == nil {
		c.Client = &http.Client{
			// A redirect is a failed delivery: following it would send
			// signed events wherever the receiver points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second},
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewWebhooks(nil)
	}
	return nil
}

// ValidateURL checks a receiver URL: absolute http or https with a host.
func ValidateURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("--webhook-url %q: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--webhook-url %q: must be an absolute http:// or https:// URL with a host", Label(s))
	}
	if u.Fragment != "" {
		return fmt.Errorf("--webhook-url %q: must not have a #fragment", Label(s))
	}
	return nil
}

// Label returns how logs and metrics name a URL: without user info and
// query, which may hold credentials.
func Label(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "invalid-url"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}
