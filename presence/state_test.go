package presence

import (
	"testing"
	"time"
)

var (
	t0     = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	timing = Timing{TTL: 30 * time.Second, Grace: 5 * time.Second, AwayAfter: 5 * time.Minute}
)

// machine drives a UserState the way the hub does: each step settles the
// state at the step's time and notes whether viewers saw a change.
type machine struct {
	t       *testing.T
	st      UserState
	now     time.Time
	changes int
}

func newMachine(t *testing.T) *machine {
	return &machine{t: t, st: UserState{UserID: "alice"}, now: t0}
}

func (m *machine) do(op func(st *UserState)) []Session {
	before := m.st.Fold()
	v := m.st.Version
	op(&m.st)
	ended := m.st.Settle(before, m.now, timing)
	if m.st.Version != v {
		m.changes++
	}
	return ended
}

func (m *machine) advance(d time.Duration) []Session {
	m.now = m.now.Add(d)
	return m.do(func(*UserState) {})
}

func (m *machine) connect(id, device string) {
	m.t.Helper()
	m.do(func(st *UserState) {
		if err := st.Connect(Session{ID: id, Device: device, ActiveAt: m.now, LastSeen: m.now, ExpiresAt: m.now.Add(timing.TTL)}); err != nil {
			m.t.Fatal(err)
		}
	})
}

func (m *machine) expect(status Status) Presence {
	m.t.Helper()
	p := m.st.Fold()
	if p.Status != status {
		m.t.Fatalf("status = %s, want %s (presence %+v)", p.Status, status, p)
	}
	return p
}

func TestNewUserIsOfflineWithNoLastSeen(t *testing.T) {
	st := UserState{UserID: "nobody"}
	p := st.Fold()
	if p.Status != StatusOffline || !p.LastSeen.IsZero() || p.V != 0 || len(p.Devices) != 0 {
		t.Fatalf("fresh user = %+v", p)
	}
}

func TestConnectGoesOnlineAndBumpsVersion(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	p := m.expect(StatusOnline)
	if p.V != 1 || p.Device != "web" || len(p.Devices) != 1 || p.Devices[0] != (Device{"web", false}) || p.Idle {
		t.Fatalf("online presence = %+v", p)
	}
}

func TestGraceHidesReconnect(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	m.advance(time.Second)
	m.do(func(st *UserState) { st.Disconnect("s1", m.now, m.now, timing.Grace) })
	m.advance(4 * time.Second)
	m.connect("s2", "web")
	m.advance(10 * time.Second)
	m.expect(StatusOnline)
	if m.changes != 1 {
		t.Fatalf("viewers saw %d changes, want only the first connect", m.changes)
	}
	if len(m.st.Sessions) != 1 || m.st.Sessions[0].ID != "s2" {
		t.Fatalf("sessions = %+v, want the reconnect only once the grace is over", m.st.Sessions)
	}
}

func TestGraceEndsInOfflineAtCloseTime(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	m.advance(3 * time.Second)
	closedAt := m.now
	m.do(func(st *UserState) { st.Disconnect("s1", m.now, m.now, timing.Grace) })
	if d := m.st.NextDeadline(timing); !d.Equal(closedAt.Add(timing.Grace)) {
		t.Fatalf("deadline = %v, want grace end %v", d, closedAt.Add(timing.Grace))
	}
	m.advance(timing.Grace - time.Millisecond)
	m.expect(StatusOnline)
	ended := m.advance(time.Millisecond)
	p := m.expect(StatusOffline)
	if len(ended) != 1 || !p.LastSeen.Equal(closedAt) {
		t.Fatalf("ended %v, last_seen %v want %v", ended, p.LastSeen, closedAt)
	}
	if p.V != 2 {
		t.Fatalf("v = %d, want 2", p.V)
	}
}

func TestOtherDeviceKeepsUserOnline(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	m.connect("s2", "mobile")
	p := m.expect(StatusOnline)
	if len(p.Devices) != 2 || p.Devices[0].Device != "mobile" || p.Devices[1].Device != "web" {
		t.Fatalf("devices = %+v", p.Devices)
	}
	m.do(func(st *UserState) { st.Remove("s1", m.now) })
	p = m.expect(StatusOnline)
	if len(p.Devices) != 1 || p.Device != "mobile" {
		t.Fatalf("after web left: %+v", p)
	}
}

func TestTabsOfOneDeviceMerge(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	v := m.st.Version
	m.connect("s2", "web")
	if m.st.Version != v {
		t.Fatal("a second tab on the same device changed what viewers see")
	}
	m.do(func(st *UserState) { st.SetIdle("s1", true, m.now) })
	if p := m.st.Fold(); p.Idle || p.Devices[0].Idle || p.Status != StatusOnline {
		t.Fatalf("one idle tab of two made the device idle: %+v", p)
	}
	m.do(func(st *UserState) { st.SetIdle("s2", true, m.now) })
	if p := m.expect(StatusAway); !p.Idle || !p.Devices[0].Idle {
		t.Fatalf("all tabs idle: %+v", p)
	}
}

func TestTTLExpiryEndsSessionAtLastSignOfLife(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	m.advance(10 * time.Second)
	seen := m.now
	m.do(func(st *UserState) { st.Touch("s1", seen, seen.Add(timing.TTL)) })
	m.advance(timing.TTL - time.Millisecond)
	m.expect(StatusOnline)
	m.advance(time.Millisecond)
	if p := m.expect(StatusOffline); !p.LastSeen.Equal(seen) {
		t.Fatalf("last_seen = %v, want last sign of life %v", p.LastSeen, seen)
	}
}

func TestHeartbeatTouchIsInvisible(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	v := m.st.Version
	for range 5 {
		m.advance(10 * time.Second)
		m.do(func(st *UserState) { st.Touch("s1", m.now, m.now.Add(timing.TTL)) })
	}
	if m.st.Version != v {
		t.Fatalf("touches changed the version %d → %d", v, m.st.Version)
	}
	if p := m.st.Fold(); !p.LastSeen.Equal(m.now) {
		t.Fatalf("last_seen while online = %v, want the last touch %v", p.LastSeen, m.now)
	}
}

func TestAutoIdleOnlyAfterActivityWasReported(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	// A client that never reports activity never turns idle on its own.
	for range 36 {
		m.now = m.now.Add(20 * time.Second)
		m.do(func(st *UserState) { st.Touch("s1", m.now, m.now.Add(timing.TTL)) })
	}
	m.expect(StatusOnline)
	m.do(func(st *UserState) { st.SetIdle("s1", false, m.now) })
	reported := m.now
	for m.now.Before(reported.Add(timing.AwayAfter - 20*time.Second)) {
		m.now = m.now.Add(20 * time.Second)
		m.do(func(st *UserState) { st.Touch("s1", m.now, m.now.Add(time.Hour)) })
		m.expect(StatusOnline)
	}
	if d := m.st.NextDeadline(timing); !d.Equal(reported.Add(timing.AwayAfter)) {
		t.Fatalf("deadline %v, want %v", d, reported.Add(timing.AwayAfter))
	}
	m.now = reported.Add(timing.AwayAfter)
	m.do(func(st *UserState) { st.Touch("s1", m.now, m.now.Add(timing.TTL)) })
	m.expect(StatusAway)
	m.do(func(st *UserState) { st.SetIdle("s1", false, m.now) })
	m.expect(StatusOnline)
}

func TestManualStatusWinsUntilOnline(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	busy := StatusBusy
	m.do(func(st *UserState) { st.Apply(StatusChange{Status: &busy}) })
	m.expect(StatusBusy)
	m.do(func(st *UserState) { st.SetIdle("s1", true, m.now) })
	m.expect(StatusBusy)
	m.connect("s2", "mobile")
	m.expect(StatusBusy)
	online := StatusOnline
	m.do(func(st *UserState) { st.Apply(StatusChange{Status: &online}) })
	m.expect(StatusOnline) // mobile is active
	m.do(func(st *UserState) { st.Remove("s2", m.now) })
	m.expect(StatusAway) // only the idle web session is left
}

func TestManualStatusSurvivesOfflineAndExpires(t *testing.T) {
	m := newMachine(t)
	away := StatusAway
	until := t0.Add(time.Hour)
	m.do(func(st *UserState) { st.Apply(StatusChange{Status: &away, ExpiresAt: &until}) })
	m.expect(StatusOffline)
	m.now = until.Add(-time.Second)
	m.connect("s1", "web")
	m.expect(StatusAway)
	m.now = until
	m.do(func(st *UserState) {})
	m.expect(StatusOnline)
}

func TestOfflineClearsActivityKeepsCustomStatus(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	call, text, emoji := ActivityInCall, "Back at 3", "🍔"
	m.do(func(st *UserState) {
		st.Apply(StatusChange{Activity: &call, CustomStatus: &text, CustomEmoji: &emoji})
	})
	p := m.st.Fold()
	if p.Activity != ActivityInCall || p.CustomStatus != text || p.CustomEmoji != emoji {
		t.Fatalf("presence = %+v", p)
	}
	m.do(func(st *UserState) { st.Remove("s1", m.now) })
	p = m.expect(StatusOffline)
	if p.Activity != "" || p.CustomStatus != text || p.CustomEmoji != emoji {
		t.Fatalf("offline presence = %+v", p)
	}
}

func TestCustomStatusExpires(t *testing.T) {
	m := newMachine(t)
	text := "Lunch"
	until := t0.Add(30 * time.Minute)
	m.do(func(st *UserState) { st.Apply(StatusChange{CustomStatus: &text, ExpiresAt: &until}) })
	p := m.st.Fold()
	if p.CustomExpiresAt != until.Unix() {
		t.Fatalf("custom_status_expires_at = %d, want %d", p.CustomExpiresAt, until.Unix())
	}
	if d := m.st.NextDeadline(timing); !d.Equal(until) {
		t.Fatalf("deadline = %v, want %v", d, until)
	}
	v := m.st.Version
	m.now = until.Add(-time.Millisecond)
	m.do(func(*UserState) {})
	if p := m.st.Fold(); p.CustomStatus != text {
		t.Fatalf("custom status gone before its expiry: %+v", p)
	}
	m.now = until
	m.do(func(*UserState) {})
	if p := m.st.Fold(); p.CustomStatus != "" || p.CustomExpiresAt != 0 || m.st.Version != v+1 {
		t.Fatalf("after expiry: %+v (v %d → %d)", p, v, m.st.Version)
	}
}

func TestEmptyStringClears(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	text, empty := "Hi", ""
	focus, none := ActivityFocus, Activity("")
	m.do(func(st *UserState) { st.Apply(StatusChange{CustomStatus: &text, Activity: &focus}) })
	m.do(func(st *UserState) { st.Apply(StatusChange{CustomStatus: &empty}) })
	if p := m.st.Fold(); p.CustomStatus != "" || p.Activity != ActivityFocus {
		t.Fatalf("clearing custom status touched activity: %+v", p)
	}
	m.do(func(st *UserState) { st.Apply(StatusChange{Activity: &none}) })
	if p := m.st.Fold(); p.Activity != "" {
		t.Fatalf("activity not cleared: %+v", p)
	}
}

func TestVersionsIncreaseOnlyOnVisibleChange(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	busy := StatusBusy
	m.do(func(st *UserState) { st.Apply(StatusChange{Status: &busy}) })
	v := m.st.Version
	m.do(func(st *UserState) { st.Apply(StatusChange{Status: &busy}) })
	if m.st.Version != v {
		t.Fatal("setting the same status again bumped the version")
	}
	m.do(func(st *UserState) { st.SetIdle("s1", true, m.now) })
	if m.st.Version != v+1 {
		t.Fatal("idle flag change (visible in devices) did not bump the version")
	}
}

func TestInvisibleMovesHiddenVersion(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	inv := StatusInvisible
	m.do(func(st *UserState) { st.Apply(StatusChange{Status: &inv}) })
	if !m.st.Invisible || m.st.HiddenV != m.st.Version {
		t.Fatalf("invisible state: %+v", m.st)
	}
	hv := m.st.HiddenV
	m.connect("s2", "mobile")
	if m.st.HiddenV != hv {
		t.Fatal("a change while invisible moved the hidden version")
	}
	self := m.st.Fold()
	if !self.Invisible || self.Status != StatusOnline {
		t.Fatalf("self view = %+v", self)
	}
	other := View(self, m.st.HiddenV, LevelFull)
	if other.Status != StatusOffline || other.V != hv || other.Invisible || len(other.Devices) != 0 || !other.LastSeen.IsZero() {
		t.Fatalf("others' view = %+v", other)
	}
}

func TestSessionLimit(t *testing.T) {
	st := UserState{UserID: "a"}
	for i := range MaxSessionsPerUser {
		if err := st.Connect(Session{ID: string(rune('A' + i)), ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Connect(Session{ID: "one-too-many"}); ErrorCode(err) != CodeLimitExceeded {
		t.Fatalf("err = %v, want limit_exceeded", err)
	}
}

func TestKickAllEndsEverySessionAndCounts(t *testing.T) {
	m := newMachine(t)
	m.connect("s1", "web")
	m.connect("s2", "mobile")
	m.advance(time.Second)
	m.do(func(st *UserState) { st.KickAll(m.now) })
	p := m.expect(StatusOffline)
	if len(m.st.Sessions) != 0 || m.st.Kicks != 1 || !p.LastSeen.Equal(m.now) {
		t.Fatalf("after the kick: %+v, presence %+v", m.st, p)
	}
	m.do(func(st *UserState) { st.KickAll(m.now) })
	if m.st.Kicks != 2 {
		t.Fatalf("kicks = %d, want 2: every kick counts, even of an offline user", m.st.Kicks)
	}
}

func TestResumeGivesThePreviousRunsSessionsTheirGrace(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	open := Session{ID: "a", Device: "web", ActiveAt: t0, LastSeen: t0, ExpiresAt: t0.Add(30 * time.Second)}
	closing := Session{ID: "b", Device: "phone", ActiveAt: t0, LastSeen: t0.Add(2 * time.Second), ExpiresAt: t0.Add(30 * time.Second),
		GraceUntil: t0.Add(7 * time.Second)}
	st := UserState{UserID: "u", Sessions: []Session{open, closing}, Version: 3}
	before := st.Fold()
	alive, now := t0.Add(4*time.Second), t0.Add(time.Hour)
	st.Resume(now, alive, 5*time.Second)
	st.Settle(before, now, Timing{})
	if st.Version != 3 || len(st.Sessions) != 2 || !st.Deadline.Equal(now.Add(5*time.Second)) {
		t.Fatalf("after Resume: %+v", st)
	}
	// The open session is last seen at the run's last proof of life; the
	// closing one keeps its close time.
	if !st.Sessions[0].LastSeen.Equal(alive) || !st.Sessions[1].LastSeen.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("last seen: %+v", st.Sessions)
	}
	st.Settle(st.Fold(), now.Add(5*time.Second), Timing{})
	if st.Live() || !st.LastSeen.Equal(alive) || st.Version != 4 {
		t.Fatalf("after the grace: %+v", st)
	}

	none := UserState{UserID: "u", Sessions: []Session{open}, Version: 3}
	none.Resume(now, alive, 0)
	if none.Live() || !none.LastSeen.Equal(alive) {
		t.Fatalf("with no grace: %+v", none)
	}
}
