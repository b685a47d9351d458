package presence

import (
	"slices"
	"strings"
	"time"
)

// Timing holds the durations of the session lifecycle.
type Timing struct {
	// TTL is how long a session lives without a sign of life.
	TTL time.Duration
	// Grace is how long a closed session still counts as live, so that a
	// reconnect inside it is never seen.
	Grace time.Duration
	// AwayAfter is how long a session that reports activity may go without
	// reporting it before it turns idle on its own.
	AwayAfter time.Duration
}

// Session is one connection's presence: a device or a tab.
type Session struct {
	ID     string `json:"id"`
	Device string `json:"device,omitempty"`
	// Node names the server holding the connection ("" on a single node).
	Node string `json:"node,omitempty"`
	Idle bool   `json:"idle,omitempty"`
	// ActiveAt is the last time the session showed its user at the device
	// (start, idle_state idle:false); the latest one names the user's device.
	ActiveAt time.Time `json:"active_at"`
	// ReportedAt is the last idle_state idle:false. Zero until the first,
	// so clients without idle detection never turn idle on their own.
	ReportedAt time.Time `json:"reported_at,omitzero"`
	// LastSeen is the last sign of life this record knows of: the
	// session's start, its close, or (on a store without node leases) its
	// node's last refresh, at most once per ping interval. Heartbeats cost
	// no store write.
	LastSeen time.Time `json:"last_seen"`
	// ExpiresAt is when the session ends unless refreshed: the backstop
	// that ends the sessions of a node that died, on a store without node
	// leases. Zero: never by itself (a node lease stands for it: the
	// session ends when its node's lease lapses).
	ExpiresAt time.Time `json:"expires_at"`
	// GraceUntil is non-zero once the connection is gone: the session still
	// counts as live until then.
	GraceUntil time.Time `json:"grace_until,omitzero"`
	// Rooms lists the rooms this session joined; they are left with it.
	Rooms []string `json:"rooms,omitempty"`
}

// UserState is everything the server keeps about one user's presence. Stores
// persist it whole; the operations below are its state machine. Every
// operation keeps the state settled: call Settle after a batch of them.
type UserState struct {
	UserID   string    `json:"user_id"`
	Sessions []Session `json:"sessions,omitempty"`

	// Manual is the status the user chose (busy or away), winning over
	// everything automatic until cleared; "" when none.
	Manual          Status    `json:"manual,omitempty"`
	ManualExpiresAt time.Time `json:"manual_expires_at,omitzero"`
	Invisible       bool      `json:"invisible,omitempty"`

	Activity          Activity  `json:"activity,omitempty"`
	ActivityExpiresAt time.Time `json:"activity_expires_at,omitzero"`
	CustomStatus      string    `json:"custom_status,omitempty"`
	CustomEmoji       string    `json:"custom_emoji,omitempty"`
	CustomExpiresAt   time.Time `json:"custom_expires_at,omitzero"`

	// LastSeen is when the user went offline; while online the sessions'
	// LastSeen tell the last sign of life.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Version increases with every change a viewer could see.
	Version uint64 `json:"v"`
	// HiddenV is the version shown to viewers the user is hidden from. It
	// moves only when the user changes who may see them, so polling a hidden
	// user shows nothing moving.
	HiddenV uint64 `json:"hidden_v,omitempty"`
	// Leaves are the room leaves owed by sessions that ended (see
	// RoomLeave), oldest first.
	Leaves []RoomLeave `json:"leaves,omitempty"`
	// LeavesDue is when Leaves are next handed out to be performed: at once
	// when a session ends, then a retry lease (see TakeLeaves).
	LeavesDue time.Time `json:"leaves_due,omitzero"`

	// Deadline is the next time Advance has work to do, or owed leaves are
	// due (zero: none). Stores index it so that expiry needs no scan.
	Deadline time.Time `json:"deadline,omitzero"`
	// Kicks counts the times the server disconnected the user (KickAll). A
	// node that finds one of its open sessions missing from the record
	// writes it back (the store lost it) unless the count moved since the
	// session opened: then the user was disconnected, and a node that
	// missed the news closes the connection instead of reviving it.
	Kicks uint32 `json:"kicks,omitempty"`
}

// MaxSessionsPerUser bounds the sessions (devices and tabs) of one user.
const MaxSessionsPerUser = 64

// Live reports whether the user has a session that counts as live.
func (s *UserState) Live() bool { return len(s.Sessions) > 0 }

// Session returns the session with the given id, or nil.
func (s *UserState) Session(id string) *Session {
	for i := range s.Sessions {
		if s.Sessions[i].ID == id {
			return &s.Sessions[i]
		}
	}
	return nil
}

// Connect adds a session. A closed session still in its grace stays until
// the grace ends: a reconnect from the same device merges with it in the
// devices list, so watchers see nothing, and its rooms are not left and
// rejoined.
func (s *UserState) Connect(sess Session) error {
	if s.Session(sess.ID) != nil {
		return Errorf(CodeConflict, "session %s already exists", sess.ID)
	}
	if len(s.Sessions) >= MaxSessionsPerUser {
		return Errorf(CodeLimitExceeded, "user has %d live sessions, the most allowed", MaxSessionsPerUser)
	}
	s.Sessions = append(s.Sessions, sess)
	return nil
}

// Touch records a sign of life of a session and moves its expiry.
func (s *UserState) Touch(id string, seen, expiresAt time.Time) {
	if ss := s.Session(id); ss != nil && ss.GraceUntil.IsZero() {
		if seen.After(ss.LastSeen) {
			ss.LastSeen = seen
		}
		ss.ExpiresAt = expiresAt
	}
}

// SetIdle records a session's idle report.
func (s *UserState) SetIdle(id string, idle bool, now time.Time) {
	ss := s.Session(id)
	if ss == nil {
		return
	}
	ss.Idle = idle
	if !idle {
		ss.ActiveAt = now
		ss.ReportedAt = now
	}
}

// Disconnect starts a session's grace: it stays live until now+grace, then
// ends. lastSeen is the connection's last sign of life.
func (s *UserState) Disconnect(id string, now, lastSeen time.Time, grace time.Duration) {
	ss := s.Session(id)
	if ss == nil {
		return
	}
	if lastSeen.After(ss.LastSeen) {
		ss.LastSeen = lastSeen
	}
	if grace <= 0 {
		s.Remove(id, ss.LastSeen)
		return
	}
	if ss.GraceUntil.IsZero() {
		ss.GraceUntil = now.Add(grace)
	}
}

// Resume takes over the sessions a previous run of the server left in
// the record, whose connections died with it: each sits out the grace from
// now, so that a device reconnecting within it merges with its session and
// watchers see nothing; one that does not come back ends at the grace's
// end. A session whose connection was still open when the run ended is
// last seen at alive, the run's last proof of life (a clean shutdown
// already started each session's grace, with its close time). With no
// grace the sessions end at once. Resume changes nothing a viewer sees
// until a session ends.
func (s *UserState) Resume(now, alive time.Time, grace time.Duration) {
	for i := range s.Sessions {
		ss := &s.Sessions[i]
		if ss.GraceUntil.IsZero() && alive.After(ss.LastSeen) {
			ss.LastSeen = alive
		}
		ss.GraceUntil = now.Add(grace)
		if ss.ExpiresAt.Before(ss.GraceUntil) {
			ss.ExpiresAt = ss.GraceUntil
		}
	}
	if grace <= 0 {
		for len(s.Sessions) > 0 {
			s.Remove(s.Sessions[0].ID, time.Time{})
		}
	}
}

// Remove ends a session at once. When it was the last one the user goes
// offline, last seen at lastSeen (or the session's own last sign of life).
func (s *UserState) Remove(id string, lastSeen time.Time) (Session, bool) {
	for i := range s.Sessions {
		if s.Sessions[i].ID != id {
			continue
		}
		gone := s.Sessions[i]
		s.oweLeaves(&gone)
		if gone.LastSeen.After(lastSeen) {
			lastSeen = gone.LastSeen
		}
		s.Sessions = append(s.Sessions[:i], s.Sessions[i+1:]...)
		if len(s.Sessions) == 0 {
			s.wentOffline(lastSeen)
		}
		return gone, true
	}
	return Session{}, false
}

// KickAll ends every session at once, last seen at now, and counts the
// kick.
func (s *UserState) KickAll(now time.Time) {
	for len(s.Sessions) > 0 {
		s.Remove(s.Sessions[0].ID, now)
	}
	s.Kicks++
}

func (s *UserState) wentOffline(at time.Time) {
	s.Sessions = nil
	s.LastSeen = at
	s.Activity = ""
	s.ActivityExpiresAt = time.Time{}
}

// Advance applies every rule whose deadline has come by now: sessions whose
// grace or TTL ran out end, sessions that stopped reporting activity turn
// idle, and expired manual status, activity and custom status clear. It
// returns the sessions that ended.
func (s *UserState) Advance(now time.Time, t Timing) []Session {
	var ended []Session
	kept := s.Sessions[:0]
	var lastSeen time.Time
	for _, ss := range s.Sessions {
		end := ss.ExpiresAt
		if !ss.GraceUntil.IsZero() && (end.IsZero() || ss.GraceUntil.Before(end)) {
			end = ss.GraceUntil
		}
		if !end.IsZero() && !end.After(now) {
			ended = append(ended, ss)
			s.oweLeaves(&ss)
			if ss.LastSeen.After(lastSeen) {
				lastSeen = ss.LastSeen
			}
			continue
		}
		if !ss.Idle && !ss.ReportedAt.IsZero() && t.AwayAfter > 0 && !ss.ReportedAt.Add(t.AwayAfter).After(now) {
			ss.Idle = true
		}
		kept = append(kept, ss)
	}
	s.Sessions = kept
	if len(ended) > 0 && len(kept) == 0 {
		s.wentOffline(lastSeen)
	}
	if s.Manual != "" && !s.ManualExpiresAt.IsZero() && !s.ManualExpiresAt.After(now) {
		s.Manual, s.ManualExpiresAt = "", time.Time{}
	}
	if s.Activity != "" && !s.ActivityExpiresAt.IsZero() && !s.ActivityExpiresAt.After(now) {
		s.Activity, s.ActivityExpiresAt = "", time.Time{}
	}
	if s.CustomStatus != "" || s.CustomEmoji != "" {
		if !s.CustomExpiresAt.IsZero() && !s.CustomExpiresAt.After(now) {
			s.CustomStatus, s.CustomEmoji, s.CustomExpiresAt = "", "", time.Time{}
		}
	}
	if len(s.Sessions) == 0 {
		s.Sessions = nil
	}
	return ended
}

// NextDeadline returns the earliest time at which Advance would change the
// state, or the zero time when nothing is scheduled.
func (s *UserState) NextDeadline(t Timing) time.Time {
	var next time.Time
	consider := func(d time.Time) {
		if !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	for _, ss := range s.Sessions {
		consider(ss.ExpiresAt)
		consider(ss.GraceUntil)
		if !ss.Idle && !ss.ReportedAt.IsZero() && t.AwayAfter > 0 {
			consider(ss.ReportedAt.Add(t.AwayAfter))
		}
	}
	if s.Manual != "" {
		consider(s.ManualExpiresAt)
	}
	if s.Activity != "" {
		consider(s.ActivityExpiresAt)
	}
	if s.CustomStatus != "" || s.CustomEmoji != "" {
		consider(s.CustomExpiresAt)
	}
	if len(s.Leaves) > 0 {
		consider(s.LeavesDue)
	}
	return next
}

// Fold computes the user's real presence from the state: what the user's own
// sessions see. Viewers get it through a privacy view.
func (s *UserState) Fold() Presence {
	p := Presence{
		UserID:       s.UserID,
		CustomStatus: s.CustomStatus,
		CustomEmoji:  s.CustomEmoji,
		Invisible:    s.Invisible,
		V:            s.Version,
	}
	if !s.CustomExpiresAt.IsZero() && p.CustomStatus+p.CustomEmoji != "" {
		p.CustomExpiresAt = s.CustomExpiresAt.Unix()
	}
	if len(s.Sessions) == 0 {
		p.Status = StatusOffline
		p.LastSeen = s.LastSeen
		return p
	}
	p.Activity = s.Activity
	if p.Activity != "" && !s.ActivityExpiresAt.IsZero() {
		p.ActivityExpiresAt = s.ActivityExpiresAt.Unix()
	}
	p.Idle = true
	var latest *Session
	for i := range s.Sessions {
		ss := &s.Sessions[i]
		if !ss.Idle {
			p.Idle = false
		}
		if ss.LastSeen.After(p.LastSeen) {
			p.LastSeen = ss.LastSeen
		}
		// On a tie the session that connected later wins.
		if latest == nil || !ss.ActiveAt.Before(latest.ActiveAt) {
			latest = ss
		}
		p.Devices = mergeDevice(p.Devices, Device{Device: ss.Device, Idle: ss.Idle})
	}
	if len(p.Devices) > 1 {
		// slices.SortFunc with a plain function allocates nothing, unlike
		// sort.Slice: Fold runs for every user of a bulk read.
		slices.SortFunc(p.Devices, func(a, b Device) int { return strings.Compare(a.Device, b.Device) })
	}
	p.Device = latest.Device
	switch {
	case s.Manual != "":
		p.Status = s.Manual
	case p.Idle:
		p.Status = StatusAway
	default:
		p.Status = StatusOnline
	}
	return p
}

func mergeDevice(ds []Device, d Device) []Device {
	for i := range ds {
		if ds[i].Device == d.Device {
			ds[i].Idle = ds[i].Idle && d.Idle
			return ds
		}
	}
	return append(ds, d)
}

// Settle applies the deadlines due by now and bumps the version when the
// presence a viewer could see changed since before. before is the Fold of
// the state as it was loaded. It returns the sessions that ended. The room
// leaves their end owes are due at once (see TakeLeaves).
func (s *UserState) Settle(before Presence, now time.Time, t Timing) []Session {
	ended := s.Advance(now, t)
	s.stampLeaves(now)
	after := s.Fold()
	if !after.Equal(before) {
		s.Version++
		if before.Invisible != after.Invisible {
			s.HiddenV = s.Version
		}
	}
	s.Deadline = s.NextDeadline(t)
	return ended
}

// Hide records a change of who may see the user: the version moves so that
// every viewer, whichever way their view went, receives a newer one.
func (s *UserState) Hide() {
	s.Version++
	s.HiddenV = s.Version
}

// Node returns the first session held by node, or nil.
func (s *UserState) Node(node string) *Session {
	for i := range s.Sessions {
		if s.Sessions[i].Node == node {
			return &s.Sessions[i]
		}
	}
	return nil
}
