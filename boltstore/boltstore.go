// Package boltstore keeps presence state and privacy settings in one
// embedded database file (bbolt): the durable single-node default.
//
// Durability: an Update that changes anything a user set (manual status,
// invisibility, activity, custom status and their expiries) or anything a
// viewer could see (the version moves) is on disk, fsynced, before Update
// returns; concurrent ones share one commit. An Update that only refreshes
// a live session's last sign of life and expiry (a hub's touch, made only
// on a store without node leases: this one has them) is kept in memory and
// written within FlushInterval (1 s). An Update that changes nothing
// writes nothing. Settings are written and fsynced before UpdateSettings
// returns. The webhook events of a change (UpdateWithEvents) are written in
// the same transaction as its record (outbox.go).
//
// The file belongs to one process, which renews a lease in it every
// FlushInterval: the time of its last renewal is the run's last proof of
// life. Opening the file takes over the sessions the previous run left
// (their connections died with it, whether it was stopped or killed): each
// sits out the offline grace from the opening (Options.Grace), so a device
// that reconnects within it is never seen leaving and the restart changes
// no version a watcher can see; a session whose device does not come back
// ends at the grace's end, last seen at its close time or, after a crash,
// at the lease's last renewal (within FlushInterval of the crash). The
// records whose sessions list rooms or that owe room leaves are handed out
// once (ResumedRooms), for the node to rebuild its rooms, which lived in
// the previous run's memory. Statuses that expired while the server was
// down are cleared.
package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/presenced/presenced/deadline"
	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/memstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
	"github.com/presenced/presenced/webhook"
)

var (
	_ hub.Store     = (*Store)(nil)
	_ privacy.Store = (*Store)(nil)
)

var (
	bucketMeta     = []byte("meta")
	bucketUsers    = []byte("users")
	bucketSettings = []byte("settings")
	keyFormat      = []byte("format")
	// keyLease holds the last lease renewal (unix nanoseconds, 8 bytes big
	// endian).
	keyLease = []byte("lease")
)

var errClosed = errors.New("boltstore: closed")

// format is the layout version written in the meta bucket: 2 since user
// records are binary (record.go). Files of format 1 (JSON records) are
// opened, read and marked format 2.
const (
	format     = "2"
	formatJSON = "1"
)

// Options configures a Store. Zero values mean the documented defaults.
type Options struct {
	// Now is the time used when opening to end sessions and expire
	// statuses. Nil means time.Now.
	Now func() time.Time
	// FlushInterval bounds how long a session refresh stays in memory
	// before it is written. Zero means 1s.
	FlushInterval time.Duration
	// Grace is how long the sessions of the previous run stay live after
	// opening, waiting for their devices to reconnect: the hub's offline
	// grace. Zero means 5s; a negative value ends them at opening.
	Grace  time.Duration
	Logger *slog.Logger
}

// Store is a bbolt-backed store. It is safe for concurrent use by one
// process; a second process opening the same file waits 1 s, then fails.
type Store struct {
	db   *bolt.DB
	path string
	log  *slog.Logger

	seed  maphash.Seed
	locks [64]sync.Mutex // serialise read-modify-write per user

	// cache serves every read (see stateCache).
	cache *stateCache

	// dirty holds records changed in memory and not yet committed, in
	// their binary layout (the cache's strings). seq numbers each change;
	// flushed is the last one on disk. cond is signalled after every
	// commit.
	mu      sync.Mutex
	cond    *sync.Cond
	dirty   map[string]string
	seq     uint64
	flushed uint64
	err     error // the last commit's error, for its waiters
	closed  bool
	// ob is the webhook outbox (nil until EnableOutbox); events are the
	// events of changes not committed yet, in sequence order, evSeq the
	// last sequence number given, acks the acknowledgements to write.
	ob     *Outbox
	events []outEvent
	evSeq  uint64
	acks   []outAck

	dlMu sync.Mutex
	dl   *deadline.Queue[string]

	// Leases are the node leases of the hubs in this process (one in
	// production): the file is this process's alone, so a lapse can only
	// be that of a hub of this process, and the previous run's sessions
	// are taken over at opening, by the file's own lease.
	memstore.Leases

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	now  func() time.Time

	// users and sessions count the live sessions the file holds and the
	// users holding them, from its opening (the previous run's, in their
	// grace) through every change (Counts).
	users, sessions atomic.Int64
	// resumedRooms is set when opening, until ResumedRooms takes it.
	resumedRooms []presence.UserState
}

// Open opens or creates the database file at path. A file that cannot be
// read as a presenced database is refused with an error naming it; it is
// never replaced by an empty one.
func Open(path string, opts Options) (s *Store, err error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch {
	case opts.Grace == 0:
		opts.Grace = 5 * time.Second
	case opts.Grace < 0:
		opts.Grace = 0
	}
	defer func() {
		// bbolt may panic on some damaged files rather than return an error.
		if r := recover(); r != nil {
			err = fmt.Errorf("data file %s is damaged and cannot be read: %v", path, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("data file %s is in use by another process", path)
		}
		return nil, fmt.Errorf("data file %s cannot be opened: %w", path, err)
	}
	s = &Store{
		db: db, path: path, log: opts.Logger, seed: maphash.MakeSeed(),
		cache: newStateCache(), dirty: make(map[string]string), dl: deadline.New[string](),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		now: opts.Now,
	}
	s.cond = sync.NewCond(&s.mu)
	if err := s.recover(opts.Now(), opts.Grace); err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.committer(opts.FlushInterval)
	return s, nil
}

// recover checks the file, takes over the sessions of the previous run
// (see the package comment), renews the lease and builds the deadline
// index.
func (s *Store) recover(now time.Time, grace time.Duration) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("data file %s is damaged: %w", s.path, err)
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("data file %s: %w", s.path, err)
		}
		switch f := meta.Get(keyFormat); {
		case f == nil && tx.Bucket(bucketUsers) == nil, string(f) == formatJSON:
			if err := meta.Put(keyFormat, []byte(format)); err != nil {
				return err
			}
		case string(f) != format:
			return fmt.Errorf("data file %s has format %q; this build reads format %s", s.path, f, format)
		}
		if _, err := tx.CreateBucketIfNotExists(bucketSettings); err != nil {
			return err
		}
		users, err := tx.CreateBucketIfNotExists(bucketUsers)
		if err != nil {
			return err
		}
		alive := decodeLease(meta.Get(keyLease))
		if err := meta.Put(keyLease, encodeLease(now)); err != nil {
			return err
		}
		type fix struct {
			id string
			st presence.UserState
		}
		var fixes []fix
		err = users.ForEach(func(k, v []byte) error {
			var st presence.UserState
			if err := decodeRecord(string(k), v, &st); err != nil {
				return fmt.Errorf("data file %s: the record of user %q is unreadable: %w", s.path, k, err)
			}
			if len(st.Sessions) > 0 || (!st.Deadline.IsZero() && !st.Deadline.After(now)) {
				before := st.Fold()
				st.Resume(now, alive, grace)
				s.count(0, len(st.Sessions))
				st.Settle(before, now, presence.Timing{})
				fixes = append(fixes, fix{string(k), st})
			}
			if len(st.Leaves) > 0 || slices.ContainsFunc(st.Sessions, func(ss presence.Session) bool { return len(ss.Rooms) > 0 }) {
				s.resumedRooms = append(s.resumedRooms, st)
			}
			if !st.Deadline.IsZero() {
				s.dl.Set(string(k), st.Deadline)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, f := range fixes {
			if err := users.Put([]byte(f.id), appendRecord(nil, &f.st)); err != nil {
				return err
			}
		}
		if len(fixes) > 0 {
			s.log.Info("the sessions of the previous run wait out their grace for their devices", "users", len(fixes), "grace", grace, "file", s.path)
		}
		return nil
	})
}

// Counts reports the users with a live session and their sessions, as the
// file holds them (GET /v1/stats): a node on the embedded store makes
// every change of its deployment, so they are exact.
func (s *Store) Counts(context.Context) (users, sessions int64, err error) {
	return s.users.Load(), s.sessions.Load(), nil
}

// count follows a change that took a user from before live sessions to
// after.
func (s *Store) count(before, after int) {
	if before == after {
		return
	}
	s.sessions.Add(int64(after - before))
	switch {
	case before == 0:
		s.users.Add(1)
	case after == 0:
		s.users.Add(-1)
	}
}

// ResumedRooms returns, once, the records the file held of users whose
// sessions list rooms or who owe room leaves, as opened: the room
// memberships of the previous run, whose room store lived in its memory
// (see hub.RestoreRooms). Later calls return nil.
func (s *Store) ResumedRooms() []presence.UserState {
	s.mu.Lock()
	defer s.mu.Unlock()
	rooms := s.resumedRooms
	s.resumedRooms = nil
	return rooms
}

// Close writes what is pending and closes the file.
func (s *Store) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	<-s.done
	s.mu.Lock()
	s.closed = true
	err := s.err
	s.cond.Broadcast()
	s.mu.Unlock()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

func (s *Store) lock(id string) *sync.Mutex {
	return &s.locks[maphash.String(s.seed, id)%uint64(len(s.locks))]
}

// Update runs fn on the user's state and saves the result; see the package
// comment for when it is on disk.
func (s *Store) Update(_ context.Context, userID string, fn func(st *presence.UserState) error) (presence.UserState, error) {
	return s.update(userID, func(st *presence.UserState) ([]webhook.Event, error) { return nil, fn(st) })
}

func (s *Store) update(userID string, fn func(st *presence.UserState) ([]webhook.Event, error)) (presence.UserState, error) {
	lk := s.lock(userID)
	lk.Lock()
	old, err := s.get(userID)
	if err != nil {
		lk.Unlock()
		return presence.UserState{}, err
	}
	st := memstore.Clone(&old)
	evs, err := fn(&st)
	if err != nil {
		lk.Unlock()
		return presence.UserState{}, err
	}
	rec := encodeRecord(&st)
	if rec == encodeRecord(&old) {
		lk.Unlock()
		return st, nil // nothing changed: nothing to write
	}
	s.Index(userID, &old, &st)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		lk.Unlock()
		return presence.UserState{}, errClosed
	}
	s.cache.put(userID, rec)
	s.dirty[userID] = rec
	s.count(len(old.Sessions), len(st.Sessions))
	s.queueEvents(evs)
	s.seq++
	mine := s.seq
	s.mu.Unlock()
	s.dlMu.Lock()
	if st.Deadline.IsZero() {
		s.dl.Remove(userID)
	} else {
		s.dl.Set(userID, st.Deadline)
	}
	s.dlMu.Unlock()
	lk.Unlock()
	if len(evs) == 0 && touchOnly(&old, &st) {
		return st, nil
	}
	return st, s.wait(mine)
}

// touchOnly reports whether after differs from before only in its
// sessions' last sign of life and expiry, and the deadline they move.
func touchOnly(before, after *presence.UserState) bool {
	if len(before.Sessions) != len(after.Sessions) || len(after.Sessions) == 0 {
		return false
	}
	a := *after
	a.Sessions = make([]presence.Session, len(after.Sessions))
	copy(a.Sessions, after.Sessions)
	for i := range a.Sessions {
		a.Sessions[i].LastSeen = before.Sessions[i].LastSeen
		a.Sessions[i].ExpiresAt = before.Sessions[i].ExpiresAt
	}
	a.Deadline = before.Deadline
	return reflect.DeepEqual(&a, before)
}

// wait blocks until change number seq is on disk.
func (s *Store) wait(seq uint64) error {
	select {
	case s.kick <- struct{}{}:
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.flushed < seq {
		if s.closed {
			return errClosed
		}
		s.cond.Wait()
	}
	return s.err
}

// committer writes the dirty records: at once when a writer waits, and
// every interval for the touches and the lease.
func (s *Store) committer(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.kick:
		case <-t.C:
		case <-s.stop:
			s.commit()
			return
		}
		s.commit()
	}
}

// commit writes the dirty records, the webhook events of their changes and
// the acknowledgements, and renews the lease, in one transaction.
func (s *Store) commit() {
	s.mu.Lock()
	upto := s.seq
	batch := make(map[string]string, len(s.dirty))
	for id, rec := range s.dirty {
		batch[id] = rec
	}
	evs, acks, ob := s.events, s.acks, s.ob
	s.events, s.acks = nil, nil
	s.mu.Unlock()
	lease := encodeLease(s.now())
	var lost map[string]*dropReport
	err := s.db.Update(func(tx *bolt.Tx) error {
		if len(evs) > 0 || len(acks) > 0 {
			var err error
			if lost, err = ob.write(tx, evs, acks); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keyLease, lease); err != nil {
			return err
		}
		b := tx.Bucket(bucketUsers)
		for id, rec := range batch {
			if err := b.Put([]byte(id), []byte(rec)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && ob != nil {
		// Before the writers are told: what they wrote is counted and
		// announced when they return.
		ob.committed(len(evs), lost)
	}
	s.mu.Lock()
	if err == nil {
		for id, rec := range batch {
			// A later write of the same bytes is on disk too.
			if s.dirty[id] == rec {
				delete(s.dirty, id)
			}
		}
	} else {
		// The records stay dirty for the next commit, and their events
		// and the acknowledgements go with them.
		s.events = append(evs, s.events...)
		s.acks = append(acks, s.acks...)
		s.log.Error("writing the data file failed", "file", s.path, "err", err)
		err = fmt.Errorf("writing %s: %w", s.path, err)
	}
	s.err = err
	s.flushed = upto
	s.cond.Broadcast()
	s.mu.Unlock()
}

// get returns the latest state of a user: pending in memory or on disk.
// The state's strings share the cached record (never changed in place);
// a state the hub keeps pins that record, about a hundred bytes.
func (s *Store) get(id string) (presence.UserState, error) {
	var st presence.UserState
	recs, err := s.records([]string{id})
	if err == nil && recs[0] != "" {
		err = decodeCached(id, recs[0], &st)
	}
	if err != nil {
		return presence.UserState{}, fmt.Errorf("reading user %q from %s: %w", id, s.path, err)
	}
	st.UserID = id
	return st, nil
}

// Load returns the states of the known users among userIDs; their strings
// share the cached records (see get).
func (s *Store) Load(_ context.Context, userIDs []string) (map[string]presence.UserState, error) {
	out := make(map[string]presence.UserState, len(userIDs))
	recs, err := s.records(userIDs)
	if err != nil {
		return nil, err
	}
	for i, id := range userIDs {
		if recs[i] == "" {
			continue
		}
		var st presence.UserState
		if err := decodeCached(id, recs[i], &st); err != nil {
			return nil, fmt.Errorf("reading user %q from %s: %w", id, s.path, err)
		}
		out[id] = st
	}
	return out, nil
}

// ReadStates calls fn with each user's state, or nil for an unknown user.
// Records come from memory; those not read since the store opened are
// read from the file in one transaction first. The states are shared with
// later reads (see stateCache): fn neither keeps nor modifies them
// (hub.StateReader).
func (s *Store) ReadStates(_ context.Context, userIDs []string, fn func(userID string, st *presence.UserState)) error {
	list := stateLists.Get().(*[]*presence.UserState)
	defer func() {
		clear(*list)
		stateLists.Put(list)
	}()
	if cap(*list) < len(userIDs) {
		*list = make([]*presence.UserState, len(userIDs))
	}
	states := (*list)[:len(userIDs)]
	var missing []int
	for i, id := range userIDs {
		st, rec := s.cache.read(id)
		if st == nil && rec != "" {
			var err error
			if st, err = s.cache.decode(id, rec); err != nil {
				return fmt.Errorf("reading user %q from %s: %w", id, s.path, err)
			}
		}
		if states[i] = st; st == nil {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		ids := make([]string, len(missing))
		for j, i := range missing {
			ids[j] = userIDs[i]
		}
		recs, err := s.readFile(ids)
		if err != nil {
			return err
		}
		for j, i := range missing {
			if recs[j] == "" {
				continue
			}
			if states[i], err = s.cache.decode(ids[j], recs[j]); err != nil {
				return fmt.Errorf("reading user %q from %s: %w", ids[j], s.path, err)
			}
		}
	}
	for i, id := range userIDs {
		fn(id, states[i])
	}
	return nil
}

// stateLists recycles ReadStates' lists: a bulk read's is 8 KB.
var stateLists = sync.Pool{New: func() any { return new([]*presence.UserState) }}

// records returns the records of userIDs ("" for unknown users), from the
// cache or, for those not cached yet, from the file in one transaction.
func (s *Store) records(userIDs []string) ([]string, error) {
	recs := make([]string, len(userIDs))
	var missing []int
	for i, id := range userIDs {
		if recs[i] = s.cache.get(id); recs[i] == "" {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return recs, nil
	}
	ids := make([]string, len(missing))
	for j, i := range missing {
		ids[j] = userIDs[i]
	}
	read, err := s.readFile(ids)
	if err != nil {
		return nil, err
	}
	for j, i := range missing {
		recs[i] = read[j]
	}
	return recs, nil
}

// readFile reads the records of ids from the file in one transaction and
// caches them; "" for users the file does not have.
func (s *Store) readFile(ids []string) ([]string, error) {
	recs := make([]string, len(ids))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		for i, id := range ids {
			v := b.Get([]byte(id))
			if v == nil {
				continue
			}
			rec, err := cacheForm(id, v)
			if err != nil {
				return fmt.Errorf("user %q: %w", id, err)
			}
			recs[i] = s.cache.fill(id, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	return recs, nil
}

// ClaimDue pops the users whose deadline is at or before now. The index is
// in memory: the file is this process's alone.
func (s *Store) ClaimDue(_ context.Context, now time.Time, max int) ([]string, error) {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	return s.dl.PopDue(now, max, nil), nil
}

func encodeLease(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())) }

// decodeLease returns the lease's last renewal; zero for a file written
// before leases, whose sessions keep their recorded last sign of life.
func decodeLease(b []byte) time.Time {
	if len(b) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)))
}
