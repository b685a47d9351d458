package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/presenced/presenced/server"
	"github.com/presenced/presenced/webhook"
)

// webhookFlags registers the --webhook-* flags into c.
func webhookFlags(fs *flag.FlagSet, c *server.WebhookConfig) {
	fs.Var(&urlList{urls: &c.URLs}, "webhook-url", "send webhooks to this URL; repeat for several (PRESENCED_WEBHOOK_URL: a comma list)")
	fs.StringVar(&c.Secret, "webhook-secret", "", "webhook signing secret, whsec_<base64> (make one with `presenced gen-webhook-secret`)")
	fs.StringVar(&c.SecretFile, "webhook-secret-file", "", "file holding the webhook signing secret")
	fs.StringVar(&c.Events, "webhook-events", "", "comma list of webhook event types (default every type but user.status)")
	fs.DurationVar(&c.Timeout, "webhook-timeout", 5e9, "bound on one webhook delivery attempt")
	fs.DurationVar(&c.MaxAge, "webhook-max-age", 24*3600e9, "retry an undelivered webhook event this long, then drop it")
	fs.IntVar(&c.BatchMax, "webhook-batch-max", 100, "most events in one webhook message")
	fs.DurationVar(&c.BatchWait, "webhook-batch-wait", 50e6, "longest an event waits for others to share its webhook message")
}

// urlList is the repeatable --webhook-url. The environment gives a comma
// list; a URL on the command line replaces the environment's.
type urlList struct {
	urls    *[]string
	fromEnv bool
}

func (l *urlList) String() string {
	if l.urls == nil {
		return ""
	}
	return strings.Join(*l.urls, ",")
}

func (l *urlList) Set(s string) error {
	if l.fromEnv {
		*l.urls, l.fromEnv = nil, false
	}
	if err := webhook.ValidateURL(s); err != nil {
		return err
	}
	*l.urls = append(*l.urls, s)
	return nil
}

// SetEnv sets the list from its environment variable.
func (l *urlList) SetEnv(s string) error {
	*l.urls = nil
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		if err := l.Set(u); err != nil {
			return err
		}
	}
	l.fromEnv = true
	return nil
}

// envSetter is a flag value that reads its environment variable its own
// way.
type envSetter interface{ SetEnv(string) error }

// genWebhookSecret prints a fresh webhook signing secret.
func genWebhookSecret(w io.Writer) error {
	s, err := webhook.NewSecret()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, s)
	return err
}
