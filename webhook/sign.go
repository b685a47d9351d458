package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Secret key sizes accepted: the Standard Webhooks specification asks for
// 24 to 64 random bytes.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
	// SecretPrefix starts every secret, as the specification's libraries
	// expect.
	SecretPrefix = "whsec_"
)

const secretHelp = "make one with `presenced gen-webhook-secret`"

// ParseSecret decodes a whsec_<base64> secret into its key.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("webhook secret must look like %s<base64>; %s", SecretPrefix, secretHelp)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: the part after %s is not standard base64 (%v); %s", SecretPrefix, err, secretHelp)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("webhook secret decodes to %d bytes, it must be %d to %d; %s", len(key), MinSecretBytes, MaxSecretBytes, secretHelp)
	}
	return key, nil
}

// NewSecret returns a fresh random secret of 32 bytes in whsec_ form.
func NewSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// Signature returns the webhook-signature header value of a message: "v1,"
// and the base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" under key.
func Signature(key []byte, id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// setHeaders sets the Standard Webhooks headers of one delivery attempt.
func setHeaders(h http.Header, key []byte, id string, ts time.Time, body []byte) {
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "presenced-webhooks")
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", Signature(key, id, ts, body))
}
