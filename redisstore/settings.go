package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/presenced/presenced/privacy"
)

// Settings is the privacy.Store on Redis. A user's settings (visibilities,
// contacts, blocks) are one JSON string, {u:<id>}:priv, in the slot of the
// user's record. It is safe for concurrent use by many goroutines and nodes.
//
// One value rather than a hash and two sets: the privacy.Store contract is
// a read-modify-write of the whole settings (fn may touch any part), and
// every reader (the privacy cache) loads them whole, so one GET per user
// and one compare-and-set script per change is all there is.
type Settings struct {
	b      *Backend
	client rueidis.Client
	l      *layout
}

var _ privacy.Store = (*Settings)(nil)

func newSettings(b *Backend) *Settings { return &Settings{b: b, client: b.client, l: b.l} }

// settingsKey returns the key of a user's privacy settings.
func (l *layout) settingsKey(id string) string { return l.userKey(id) + ":priv" }

// settingsCAS replaces a user's settings if they still hash to what the
// caller read. Comparing the content, not a revision, is immune to a
// delete and re-create in between: equal content means fn ran on the
// current settings. An empty new value deletes the key.
//
// KEYS[1] settings key. ARGV: SHA-1 of the value read ("" if none), new value.
// Reply: {1} written; {0, current value or false} conflict.
var settingsCAS = newScript(`
local cur = redis.call('GET', KEYS[1])
local h = ''
if cur then h = redis.sha1hex(cur) end
if h ~= ARGV[1] then return {0, cur} end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return {1}
`)

// LoadSettings returns the settings of the given users who have any: one
// GET per user, pipelined per node.
func (s *Settings) LoadSettings(ctx context.Context, userIDs []string) (map[string]privacy.Settings, error) {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	cmds := make(rueidis.Commands, len(userIDs))
	for i, id := range userIDs {
		cmds[i] = s.client.B().Get().Key(s.l.settingsKey(id)).Build()
	}
	out := make(map[string]privacy.Settings, len(userIDs))
	for i, r := range s.client.DoMulti(ctx, cmds...) {
		v, err := r.ToString()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return nil, unavailable("load settings", err)
		}
		st, err := decodeSettings(userIDs[i], v)
		if err != nil {
			return nil, err
		}
		out[userIDs[i]] = st
	}
	return out, nil
}

// UpdateSettings reads the user's settings, runs fn on them and writes
// them back if no other writer came between, running fn again on the newer
// settings otherwise. A zero result deletes the key. The result is durable
// as far as Redis's persistence makes it (see docs/redis.md).
func (s *Settings) UpdateSettings(ctx context.Context, userID string, fn func(*privacy.Settings) error) (privacy.Settings, error) {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	key := s.l.settingsKey(userID)
	cur, exists, err := s.read(ctx, key)
	if err != nil {
		return privacy.Settings{}, err
	}
	for attempt := range maxAttempts {
		var st privacy.Settings
		expect := ""
		if exists {
			if st, err = decodeSettings(userID, cur); err != nil {
				return privacy.Settings{}, err
			}
			expect = sha1hex(cur)
		}
		if err := fn(&st); err != nil {
			return privacy.Settings{}, err
		}
		next := ""
		if !st.IsZero() {
			b, err := json.Marshal(st)
			if err != nil {
				return privacy.Settings{}, err
			}
			next = string(b)
		}
		if next == cur {
			return st, nil // nothing changed (or still nothing)
		}
		res, err := settingsCAS.run(ctx, s.client, []string{key}, []string{expect, next}).ToArray()
		if err != nil {
			return privacy.Settings{}, unavailable("update settings", err)
		}
		if ok, _ := res[0].AsInt64(); ok == 1 {
			return st, nil
		}
		cur, exists = "", false
		if len(res) > 1 {
			if v, err := res[1].ToString(); err == nil {
				cur, exists = v, true
			}
		}
		if err := backoff(ctx, attempt); err != nil {
			return privacy.Settings{}, unavailable("update settings", err)
		}
	}
	return privacy.Settings{}, unavailable("update settings", fmt.Errorf("user %q: %d conflicting writes in a row", userID, maxAttempts))
}

// DeleteSettings erases a user's settings.
func (s *Settings) DeleteSettings(ctx context.Context, userID string) error {
	ctx, cancel := s.b.opContext(ctx)
	defer cancel()
	if err := s.client.Do(ctx, s.client.B().Del().Key(s.l.settingsKey(userID)).Build()).Error(); err != nil {
		return unavailable("delete settings", err)
	}
	return nil
}

func (s *Settings) read(ctx context.Context, key string) (string, bool, error) {
	v, err := s.client.Do(ctx, s.client.B().Get().Key(key).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, unavailable("read settings", err)
	}
	return v, true, nil
}

func decodeSettings(id, v string) (privacy.Settings, error) {
	var st privacy.Settings
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return st, fmt.Errorf("redisstore: settings of %q: %w", id, err)
	}
	return st, nil
}

func sha1hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
