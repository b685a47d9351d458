package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"sync"
)

// Outbox holds the events waiting for delivery: one queue per target URL,
// each event in every queue. The engine reads it; whatever makes the
// changes writes it.
//
// An outbox shared by several nodes (events kept in users' records, a
// Redis stream) hands each event to one node at a time, so that an event
// is delivered by one node of a cluster: it leases a queue, or a partition
// of it, to the node that reads it for as long as that node keeps reading,
// and hands the unacknowledged events of a node that stopped to the next
// reader. Handing events again is how a dead node's backlog is taken
// over, and why delivery is at least once.
type Outbox interface {
	// Pending returns up to max events of target's queue not handed to
	// this engine before and not acknowledged, oldest first. Events of one
	// user, and of one room, come in the order they happened.
	Pending(ctx context.Context, target string, max int) ([]Event, error)
	// Ack removes events from target's queue once delivered or given up.
	// Unknown ids are ignored.
	Ack(ctx context.Context, target string, ids []string) error
}

// Notifier is an optional ability of an Outbox: a channel that receives
// when events may have become pending for target. Without it the engine
// polls every PollInterval.
type Notifier interface {
	Notify(target string) <-chan struct{}
}

// Backlogger is an optional ability of an Outbox: how many of target's
// events are not acknowledged yet, handed out or not, for the pending
// metric and Engine.Drain.
type Backlogger interface {
	Backlog(target string) int
}

// DefaultMemoryLimit bounds each queue of a Memory outbox.
const DefaultMemoryLimit = 100000

// Memory is an Outbox in this process's memory. It is NOT durable: the
// events waiting in it are lost when the process stops, and each node of
// a cluster delivers the events of the changes it made itself. It serves
// the stores that keep no outbox (the in-memory one) and tests. It is
// safe for concurrent use.
type Memory struct {
	mu     sync.Mutex
	queues map[string]*memQueue
	limit  int
	prefix string
	seq    uint64
	// dropped is told of each event pushed out of a full queue.
	dropped func(target string, ev *Event)
}

type memQueue struct {
	evs    []Event
	handed int // evs[:handed] were handed out and await Ack
	wake   chan struct{}
}

// NewMemory returns an empty outbox with a queue per target. Each queue
// holds at most limit events (zero means DefaultMemoryLimit); past it the
// oldest is dropped and reported to dropped (which may be nil).
func NewMemory(targets []string, limit int, dropped func(target string, ev *Event)) *Memory {
	if limit <= 0 {
		limit = DefaultMemoryLimit
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	m := &Memory{queues: make(map[string]*memQueue), limit: limit, dropped: dropped,
		prefix: "evt_" + base64.RawURLEncoding.EncodeToString(b) + "_"}
	for _, t := range targets {
		m.queues[t] = &memQueue{wake: make(chan struct{}, 1)}
	}
	return m
}

// Add gives each event an id unique in this process and queues it for
// every target, in order.
func (m *Memory) Add(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	m.mu.Lock()
	var lost []lostEvent
	for i := range evs {
		m.seq++
		evs[i].ID = m.prefix + strconv.FormatUint(m.seq, 36)
	}
	for target, q := range m.queues {
		for _, ev := range evs {
			if len(q.evs) >= m.limit {
				lost = append(lost, lostEvent{target, q.evs[0]})
				q.evs = q.evs[1:]
				if q.handed > 0 {
					q.handed--
				}
			}
			q.evs = append(q.evs, ev)
		}
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	m.mu.Unlock()
	if m.dropped != nil {
		for i := range lost {
			m.dropped(lost[i].target, &lost[i].ev)
		}
	}
}

type lostEvent struct {
	target string
	ev     Event
}

// Pending returns up to max events of target not handed out yet.
func (m *Memory) Pending(_ context.Context, target string, max int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queues[target]
	if q == nil || max <= 0 {
		return nil, nil
	}
	end := min(q.handed+max, len(q.evs))
	out := append([]Event(nil), q.evs[q.handed:end]...)
	q.handed = end
	return out, nil
}

// Ack removes the given events from target's queue.
func (m *Memory) Ack(_ context.Context, target string, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queues[target]
	if q == nil || len(ids) == 0 {
		return nil
	}
	// The engine acknowledges what it was handed, in order: the head of
	// the queue, removed without looking at the rest.
	if n := len(ids); n <= q.handed && isHead(q.evs, ids) {
		clear(q.evs[:n])
		q.evs, q.handed = q.evs[n:], q.handed-n
		return nil
	}
	gone := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		gone[id] = struct{}{}
	}
	kept := q.evs[:0]
	handed := q.handed
	for i, ev := range q.evs {
		if _, ok := gone[ev.ID]; ok {
			if i < q.handed {
				handed--
			}
			continue
		}
		kept = append(kept, ev)
	}
	clear(q.evs[len(kept):])
	q.evs, q.handed = kept, handed
	return nil
}

// isHead reports whether ids are the ids of the first len(ids) events.
func isHead(evs []Event, ids []string) bool {
	for i, id := range ids {
		if evs[i].ID != id {
			return false
		}
	}
	return true
}

// Notify returns the channel that receives when events are added.
func (m *Memory) Notify(target string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if q := m.queues[target]; q != nil {
		return q.wake
	}
	return nil
}

// Backlog returns how many of target's events are not acknowledged.
func (m *Memory) Backlog(target string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if q := m.queues[target]; q != nil {
		return len(q.evs)
	}
	return 0
}

var (
	_ Outbox     = (*Memory)(nil)
	_ Notifier   = (*Memory)(nil)
	_ Backlogger = (*Memory)(nil)
)
