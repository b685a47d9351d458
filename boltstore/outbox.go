package boltstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/webhook"
)

// The webhook outbox lives in the data file so that an event is on disk in
// the same transaction as the change that caused it: a kill -9 can lose
// neither an acknowledged change's event nor keep an event of a change
// that was not written. Each target URL has a bucket of its own, named
// bucketOutbox and the URL, at the top level: nested in a common bucket,
// every transaction with events would write that bucket's page too (the
// outbox then cost a third more page writes per change instead of a
// seventh). Keys are the events' sequence numbers (8 bytes big endian, so
// a cursor walks them in the order the changes were applied), values the
// events' JSON as receivers get it.
var (
	bucketOutbox = []byte("outbox ")
	// keyOutboxSeq is the last sequence number given (8 bytes big
	// endian): ids are never given twice, even once every event is
	// acknowledged and deleted.
	keyOutboxSeq = []byte("outbox_seq")
	// keyOutboxID is the file's random id prefix, so that two data files
	// (two deployments sending to one receiver) never share an event id.
	keyOutboxID = []byte("outbox_id")
)

// DefaultOutboxLimit bounds each URL's queue in the data file: past it,
// the oldest events are dropped (and reported) to keep a receiver that is
// down for long from filling the disk. At about 500 bytes an event that is
// half a gigabyte per URL.
const DefaultOutboxLimit = 1000000

// Outbox is the webhook outbox kept in the data file (webhook.Outbox).
// Events are added by UpdateWithEvents and AddEvents and committed with
// the changes that caused them; acknowledgements are written with the next
// commit (within FlushInterval), so a crash may hand out again the events
// acknowledged in the last second: delivery is at least once.
type Outbox struct {
	s       *Store
	prefix  string
	limit   int
	dropped func(target string, ev *webhook.Event)

	mu     sync.Mutex
	queues map[string]*outQueue
}

type outQueue struct {
	handed uint64 // the last sequence number handed out since opening
	// backlog counts the events committed and not acknowledged. It may
	// dip below zero for a moment: the engine can read and acknowledge
	// events between their commit and the count's increase.
	backlog int
	wake    chan struct{}
}

// outEvent is an event waiting for the next commit.
type outEvent struct {
	seq uint64
	val []byte
}

// outAck is an acknowledgement waiting for the next commit.
type outAck struct {
	target string
	seq    uint64
}

// EnableOutbox makes the store keep webhook events for targets and returns
// the outbox the delivery engine reads. Call it once, before the first
// write with events. Each target's queue holds at most limit events (zero
// means DefaultOutboxLimit); the oldest past it, and the undelivered
// events of URLs no longer in targets, are dropped and reported to dropped
// (which may be nil).
func (s *Store) EnableOutbox(targets []string, limit int, dropped func(target string, ev *webhook.Event)) (*Outbox, error) {
	if limit <= 0 {
		limit = DefaultOutboxLimit
	}
	ob := &Outbox{s: s, limit: limit, dropped: dropped, queues: make(map[string]*outQueue)}
	var seq uint64
	stale := map[string]int{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		id := meta.Get(keyOutboxID)
		if id == nil {
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			id = []byte(base64.RawURLEncoding.EncodeToString(b))
			if err := meta.Put(keyOutboxID, id); err != nil {
				return err
			}
		}
		ob.prefix = "evt_" + string(id) + "_"
		if v := meta.Get(keyOutboxSeq); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		var gone [][]byte
		err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if t, ok := bytes.CutPrefix(name, bucketOutbox); ok && !slices.Contains(targets, string(t)) {
				gone = append(gone, slices.Clone(name))
				stale[string(t)] = b.Stats().KeyN
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range gone {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		for _, t := range targets {
			b, err := tx.CreateBucketIfNotExists(outName(t))
			if err != nil {
				return fmt.Errorf("webhook outbox of %s: %w", webhook.Label(t), err)
			}
			if _, ok := ob.queues[t]; !ok {
				ob.queues[t] = &outQueue{backlog: b.Stats().KeyN, wake: make(chan struct{}, 1)}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("data file %s: opening the webhook outbox: %w", s.path, err)
	}
	for t, n := range stale {
		s.log.Warn("webhook events of a URL no longer configured dropped", "url", webhook.Label(t), "events", n)
	}
	for t, q := range ob.queues {
		if q.backlog > 0 {
			s.log.Info("webhook events of the previous run waiting for delivery", "url", webhook.Label(t), "events", q.backlog)
		}
	}
	s.mu.Lock()
	s.ob, s.evSeq = ob, seq
	s.mu.Unlock()
	return ob, nil
}

// UpdateWithEvents is Update for a change that causes webhook events: fn
// returns them, and they are committed in the same transaction as the
// record (Update returns once both are on disk). Events of a change that
// writes nothing, or fails, are not kept; without EnableOutbox none is.
func (s *Store) UpdateWithEvents(_ context.Context, userID string, fn func(st *presence.UserState) ([]webhook.Event, error)) (presence.UserState, error) {
	return s.update(userID, fn)
}

// AddEvents writes events not tied to a record of this file (those of
// rooms, kept in memory) and returns once they are on disk.
func (s *Store) AddEvents(evs ...webhook.Event) error {
	if len(evs) == 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	s.queueEvents(evs)
	s.seq++
	mine := s.seq
	s.mu.Unlock()
	return s.wait(mine)
}

// queueEvents gives evs their ids and queues them for the next commit.
// Called with s.mu held, in the order the changes were applied.
func (s *Store) queueEvents(evs []webhook.Event) {
	if s.ob == nil {
		return
	}
	for i := range evs {
		s.evSeq++
		evs[i].ID = s.ob.prefix + strconv.FormatUint(s.evSeq, 36)
		evs[i].Raw = nil
		s.events = append(s.events, outEvent{seq: s.evSeq, val: evs[i].AppendJSON(nil)})
	}
}

func outName(target string) []byte { return append(slices.Clone(bucketOutbox), target...) }

func outKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// dropReport is what a commit dropped from full queues: the events, to
// report, and how many of them were never handed out (those handed out
// leave the backlog when the engine acknowledges them).
type dropReport struct {
	evs       []webhook.Event
	unhandled int
}

// write puts the queued events in every target's queue and deletes the
// acknowledged ones, inside the commit's transaction. It returns what it
// dropped from full queues, to account for once committed.
func (ob *Outbox) write(tx *bolt.Tx, evs []outEvent, acks []outAck) (map[string]*dropReport, error) {
	for _, a := range acks {
		if b := tx.Bucket(outName(a.target)); b != nil {
			if err := b.Delete(outKey(a.seq)); err != nil {
				return nil, err
			}
		}
	}
	if len(evs) == 0 {
		return nil, nil
	}
	if err := tx.Bucket(bucketMeta).Put(keyOutboxSeq, outKey(evs[len(evs)-1].seq)); err != nil {
		return nil, err
	}
	var lost map[string]*dropReport
	ob.mu.Lock()
	defer ob.mu.Unlock()
	for t, q := range ob.queues {
		b := tx.Bucket(outName(t))
		b.FillPercent = 0.9 // keys only ever grow: full pages
		for _, ev := range evs {
			if err := b.Put(outKey(ev.seq), ev.val); err != nil {
				return nil, err
			}
		}
		over := q.backlog + len(evs) - ob.limit
		c := b.Cursor()
		for k, v := c.First(); over > 0 && k != nil; k, v = c.First() {
			if lost == nil {
				lost = make(map[string]*dropReport)
			}
			if lost[t] == nil {
				lost[t] = &dropReport{}
			}
			if binary.BigEndian.Uint64(k) > q.handed {
				lost[t].unhandled++
			}
			if ev, err := webhook.DecodeStored(v); err == nil {
				lost[t].evs = append(lost[t].evs, ev)
			}
			if err := c.Delete(); err != nil {
				return nil, err
			}
			over--
		}
	}
	return lost, nil
}

// committed follows a successful commit of evs; lost were dropped from
// full queues.
func (ob *Outbox) committed(n int, lost map[string]*dropReport) {
	if n == 0 {
		return
	}
	ob.mu.Lock()
	for t, q := range ob.queues {
		q.backlog += n
		if d := lost[t]; d != nil {
			q.backlog -= d.unhandled
		}
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	ob.mu.Unlock()
	if ob.dropped != nil {
		for t, d := range lost {
			for i := range d.evs {
				ob.dropped(t, &d.evs[i])
			}
		}
	}
}

// Pending returns up to n of target's committed events not handed out
// since the store opened, oldest first: after a restart every
// unacknowledged event is handed out again.
func (ob *Outbox) Pending(_ context.Context, target string, n int) ([]webhook.Event, error) {
	ob.mu.Lock()
	q := ob.queues[target]
	if q == nil || n <= 0 {
		ob.mu.Unlock()
		return nil, nil
	}
	from := q.handed + 1
	ob.mu.Unlock()
	var out []webhook.Event
	last := from - 1
	err := ob.s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(outName(target)).Cursor()
		for k, v := c.Seek(outKey(from)); k != nil && len(out) < n; k, v = c.Next() {
			last = binary.BigEndian.Uint64(k)
			ev, err := webhook.DecodeStored(v)
			if err != nil {
				// Never written so by this program: skipped, kept for
				// inspection, and said.
				ob.s.log.Error("unreadable webhook event in the outbox skipped", "file", ob.s.path, "seq", last, "err", err)
				continue
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the webhook outbox of %s: %w", ob.s.path, err)
	}
	ob.mu.Lock()
	q.handed = max(q.handed, last)
	ob.mu.Unlock()
	return out, nil
}

// Ack deletes delivered (or given up) events from target's queue. The
// deletion rides on the next commit rather than forcing one: an ack costs
// no fsync of its own.
func (ob *Outbox) Ack(_ context.Context, target string, ids []string) error {
	acks := make([]outAck, 0, len(ids))
	for _, id := range ids {
		rest, ok := strings.CutPrefix(id, ob.prefix)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(rest, 36, 64)
		if err != nil {
			continue
		}
		acks = append(acks, outAck{target: target, seq: seq})
	}
	ob.mu.Lock()
	q := ob.queues[target]
	if q == nil {
		ob.mu.Unlock()
		return nil
	}
	q.backlog -= len(acks)
	ob.mu.Unlock()
	s := ob.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.acks = append(s.acks, acks...)
	return nil
}

// Notify receives after a commit added events.
func (ob *Outbox) Notify(target string) <-chan struct{} {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if q := ob.queues[target]; q != nil {
		return q.wake
	}
	return nil
}

// Backlog is how many of target's events are committed and not
// acknowledged.
func (ob *Outbox) Backlog(target string) int {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if q := ob.queues[target]; q != nil {
		return max(q.backlog, 0)
	}
	return 0
}

var (
	_ webhook.Outbox     = (*Outbox)(nil)
	_ webhook.Notifier   = (*Outbox)(nil)
	_ webhook.Backlogger = (*Outbox)(nil)
)
