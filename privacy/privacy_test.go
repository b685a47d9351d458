package privacy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
)

const (
	full   = presence.LevelFull
	noLS   = presence.LevelNoLastSeen
	hidden = presence.LevelHidden
)

func TestLevelRule(t *testing.T) {
	bobContact := []string{"bob"}
	cases := []struct {
		name   string
		rules  privacy.Rules
		alice  privacy.Settings // the target
		bob    privacy.Settings // the viewer
		expect presence.Level
	}{
		{"default contacts, not a contact", privacy.Rules{}, privacy.Settings{}, privacy.Settings{}, hidden},
		{"default contacts, a contact", privacy.Rules{}, privacy.Settings{Contacts: bobContact}, privacy.Settings{}, full},
		{"default everyone", privacy.Rules{DefaultVisibility: privacy.Everyone}, privacy.Settings{}, privacy.Settings{}, full},
		{"everyone", privacy.Rules{}, privacy.Settings{Visibility: privacy.Everyone}, privacy.Settings{}, full},
		{"nobody, even a contact", privacy.Rules{}, privacy.Settings{Visibility: privacy.Nobody, Contacts: bobContact}, privacy.Settings{}, hidden},
		{"blocked beats everyone", privacy.Rules{}, privacy.Settings{Visibility: privacy.Everyone, Blocks: bobContact}, privacy.Settings{}, hidden},
		{"blocked beats contact", privacy.Rules{}, privacy.Settings{Contacts: bobContact, Blocks: bobContact}, privacy.Settings{}, hidden},
		{"last seen nobody", privacy.Rules{}, privacy.Settings{Visibility: privacy.Everyone, LastSeenVisibility: privacy.Nobody}, privacy.Settings{}, noLS},
		{"last seen contacts, not a contact", privacy.Rules{}, privacy.Settings{Visibility: privacy.Everyone, LastSeenVisibility: privacy.Contacts}, privacy.Settings{}, noLS},
		{"last seen contacts, a contact", privacy.Rules{}, privacy.Settings{Visibility: privacy.Everyone, LastSeenVisibility: privacy.Contacts, Contacts: bobContact}, privacy.Settings{}, full},
		{"last seen everyone capped by visibility", privacy.Rules{}, privacy.Settings{Visibility: privacy.Contacts, LastSeenVisibility: privacy.Everyone}, privacy.Settings{}, hidden},
		{"reciprocity off: viewer hiding keeps theirs", privacy.Rules{}, privacy.Settings{Visibility: privacy.Everyone}, privacy.Settings{LastSeenVisibility: privacy.Nobody}, full},
		{"reciprocity: viewer hiding last seen loses it", privacy.Rules{LastSeenReciprocity: true}, privacy.Settings{Visibility: privacy.Everyone}, privacy.Settings{LastSeenVisibility: privacy.Nobody}, noLS},
		{"reciprocity: viewer visible to nobody loses it", privacy.Rules{LastSeenReciprocity: true}, privacy.Settings{Visibility: privacy.Everyone}, privacy.Settings{Visibility: privacy.Nobody}, noLS},
		{"reciprocity: viewer sharing with contacts keeps it", privacy.Rules{LastSeenReciprocity: true}, privacy.Settings{Visibility: privacy.Everyone}, privacy.Settings{LastSeenVisibility: privacy.Contacts}, full},
		{"reciprocity: default nobody hides everyone's", privacy.Rules{LastSeenReciprocity: true, DefaultVisibility: privacy.Nobody}, privacy.Settings{Visibility: privacy.Everyone}, privacy.Settings{}, noLS},
		{"reciprocity never reveals", privacy.Rules{LastSeenReciprocity: true}, privacy.Settings{}, privacy.Settings{}, hidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.rules.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := tc.rules.Level("bob", &tc.bob, "alice", &tc.alice); got != tc.expect {
				t.Fatalf("level = %d, want %d", got, tc.expect)
			}
			// The cache answers the same from the same stored settings.
			st := memstore.New()
			ctx := context.Background()
			for id, s := range map[string]privacy.Settings{"alice": tc.alice, "bob": tc.bob} {
				if _, err := st.UpdateSettings(ctx, id, func(p *privacy.Settings) error { *p = s.Clone(); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			c, err := privacy.NewCache(privacy.CacheConfig{Store: st, Rules: tc.rules})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Level("bob", "alice"); got != tc.expect {
				t.Fatalf("cache level = %d, want %d", got, tc.expect)
			}
			if got := c.LevelsFor("alice")("bob"); got != tc.expect {
				t.Fatalf("LevelsFor = %d, want %d", got, tc.expect)
			}
			if got := c.Level("alice", "alice"); got != full {
				t.Fatalf("self level = %d", got)
			}
		})
	}
}

func TestRulesValidate(t *testing.T) {
	r := privacy.Rules{DefaultVisibility: "friends"}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "--default-visibility") {
		t.Fatalf("err = %v", err)
	}
}

func TestServiceValidatesAndChangesNothingOnBadInput(t *testing.T) {
	st := memstore.New()
	var changes []string
	sv := &privacy.Service{Store: st, OnChange: func(_ context.Context, id string) error { changes = append(changes, id); return nil }}
	ctx := context.Background()
	if _, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Replace, []string{"carol", "bob", "bob"}); err != nil {
		t.Fatal(err)
	}
	many := make([]string, privacy.MaxContacts+1)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	bad := []struct {
		name string
		do   func() error
		code presence.Code
	}{
		{"over the limit", func() error { _, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Replace, many); return err }, presence.CodeLimitExceeded},
		{"add past the limit", func() error {
			_, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Add, many[:privacy.MaxContacts-1])
			return err
		}, presence.CodeLimitExceeded},
		{"block yourself", func() error {
			_, err := sv.Edit(ctx, "alice", privacy.BlocksList, privacy.Add, []string{"alice"})
			return err
		}, presence.CodeInvalidArgument},
		{"empty id", func() error {
			_, err := sv.Edit(ctx, "alice", privacy.BlocksList, privacy.Add, []string{""})
			return err
		}, presence.CodeInvalidArgument},
		{"long id", func() error {
			_, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Add, []string{strings.Repeat("x", 257)})
			return err
		}, presence.CodeInvalidArgument},
		{"control character", func() error {
			_, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Add, []string{"a\nb"})
			return err
		}, presence.CodeInvalidArgument},
		{"bad owner", func() error {
			_, err := sv.Edit(ctx, "", privacy.ContactsList, privacy.Add, []string{"bob"})
			return err
		}, presence.CodeInvalidArgument},
	}
	for _, b := range bad {
		if err := b.do(); presence.ErrorCode(err) != b.code {
			t.Errorf("%s: err = %v, want %s", b.name, err, b.code)
		}
	}
	s, err := sv.Settings(ctx, "alice")
	if err != nil || strings.Join(s.Contacts, ",") != "bob,carol" || len(s.Blocks) != 0 {
		t.Fatalf("after bad input: %+v %v", s, err)
	}
	if strings.Join(changes, ",") != "alice" {
		t.Fatalf("changes = %v", changes)
	}
	// A no-op change is not reported.
	if _, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Add, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Remove, []string{"bob", "zed"}); err != nil {
		t.Fatal(err)
	}
	s, _ = sv.Settings(ctx, "alice")
	if strings.Join(s.Contacts, ",") != "carol" || len(changes) != 2 {
		t.Fatalf("after remove: %+v, changes %v", s, changes)
	}
	// A change saved but not applied is applied by the retry, though the
	// retry changes nothing.
	sv.OnChange = func(context.Context, string) error { return presence.Errorf(presence.CodeUnavailable, "down") }
	if _, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Add, []string{"dan"}); presence.ErrorCode(err) != presence.CodeUnavailable {
		t.Fatalf("err = %v", err)
	}
	sv.OnChange = func(_ context.Context, id string) error { changes = append(changes, id); return nil }
	for range 2 {
		if _, err := sv.Edit(ctx, "alice", privacy.ContactsList, privacy.Add, []string{"dan"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(changes) != 3 {
		t.Fatalf("changes = %v: the retry was not applied, or a no-op was", changes)
	}
	if _, err := privacy.ParseVisibility("visibility", "friends"); presence.ErrorCode(err) != presence.CodeInvalidArgument ||
		!strings.Contains(err.Error(), "everyone, contacts, nobody") {
		t.Fatalf("err = %v", err)
	}
}

// failing is a settings store that cannot be read.
type failing struct{ privacy.Store }

func (failing) LoadSettings(context.Context, []string) (map[string]privacy.Settings, error) {
	return nil, errors.New("disk on fire")
}

func TestCacheFailsClosed(t *testing.T) {
	c, _ := privacy.NewCache(privacy.CacheConfig{Store: failing{}, Rules: privacy.Rules{DefaultVisibility: privacy.Everyone}})
	if got := c.Level("bob", "alice"); got != hidden {
		t.Fatalf("level with an unreadable store = %d", got)
	}
}

func TestCacheLoadsOnceAndRefreshReportsBefore(t *testing.T) {
	st := memstore.New()
	ctx := context.Background()
	c, _ := privacy.NewCache(privacy.CacheConfig{Store: st, Rules: privacy.Rules{}})
	if err := c.Prepare(ctx, []string{"alice", "bob"}); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if c.Level("bob", "alice") != hidden {
			t.Fatal("bob sees alice")
		}
	}
	if c.Loads() != 2 {
		t.Fatalf("loads = %d, want 2", c.Loads())
	}
	if _, err := st.UpdateSettings(ctx, "alice", func(s *privacy.Settings) error { s.Contacts = []string{"bob"}; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if c.Level("bob", "alice") != full {
		t.Fatalf("after refresh bob sees alice at %d", c.Level("bob", "alice"))
	}
}

func TestCacheEvictsOnlyUsersNotInUse(t *testing.T) {
	st := memstore.New()
	ctx := context.Background()
	c, _ := privacy.NewCache(privacy.CacheConfig{Store: st, MaxUsers: 100})
	c.SetInUse(func(id string) bool { return strings.HasPrefix(id, "kept") })
	var ids []string
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("kept%d", i))
	}
	if err := c.Prepare(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 150 {
		t.Fatalf("len = %d: users in use were evicted", c.Len())
	}
	for i := range 300 {
		if err := c.Prepare(ctx, []string{fmt.Sprintf("other%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() > 150+100 {
		t.Fatalf("len = %d: not bounded", c.Len())
	}
	loads := c.Loads()
	for _, id := range ids {
		c.Level("viewer", id)
	}
	if c.Loads() != loads {
		t.Fatalf("users in use were reloaded: %d loads", c.Loads()-loads)
	}
}

// BenchmarkLevel is one privacy check of a fan-out: the target looked up
// once (LevelsFor), then per viewer a contacts lookup and, with
// reciprocity, the viewer's own settings.
func BenchmarkLevel(b *testing.B) {
	for _, reciprocity := range []bool{false, true} {
		b.Run(fmt.Sprintf("reciprocity=%v", reciprocity), func(b *testing.B) {
			st := memstore.New()
			ctx := context.Background()
			viewers := make([]string, 10000)
			for i := range viewers {
				viewers[i] = fmt.Sprintf("watcher%05d", i)
			}
			if _, err := st.UpdateSettings(ctx, "alice", func(s *privacy.Settings) error {
				s.Contacts, s.LastSeenVisibility = viewers, privacy.Contacts
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			c, _ := privacy.NewCache(privacy.CacheConfig{Store: st, Rules: privacy.Rules{LastSeenReciprocity: reciprocity}})
			if err := c.Prepare(ctx, append(viewers, "alice")); err != nil {
				b.Fatal(err)
			}
			level := c.LevelsFor("alice")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if level(viewers[i%len(viewers)]) != full {
					b.Fatal("not full")
				}
			}
		})
	}
}
