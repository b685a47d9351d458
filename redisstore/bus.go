package redisstore

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// Bus is the hub.Bus on Redis sharded pub/sub. Each topic is one channel;
// channels are spread over ChannelPartitions slots, and a node listens on
// each partition it needs with one dedicated connection to the slot's
// master, so any number of channels cost one connection per partition and
// no goroutine per channel.
//
// Subscribe and Unsubscribe only record interest and wake the partition's
// worker, which (un)subscribes in batches: they never block, so the hub
// may call them under its locks. Once a channel is subscribed (again, after
// a reconnect or a slot move) the worker calls its deliver with a nil
// payload: messages may have been missed, and the hub re-reads the state.
type Bus struct {
	b         *Backend
	parts     [ChannelPartitions]*partition
	republish republisher
}

func newBus(b *Backend) *Bus {
	bus := &Bus{b: b}
	bus.republish = republisher{bus: bus, pending: make(map[string]pendingPublish), wake: make(chan struct{}, 1)}
	for i := range bus.parts {
		bus.parts[i] = &partition{
			bus: bus, idx: i,
			want: make(map[string]func([]byte)), live: make(map[string]bool), leaving: make(map[string]bool),
			confirm: make(map[string]bool),
			wake:    make(chan struct{}, 1),
		}
	}
	return bus
}

// SubscribesAsync reports that a subscription takes effect when the bus
// delivers nil (hub.AsyncBus).
func (bus *Bus) SubscribesAsync() bool { return true }

// Publish sends payload on topic's channel with one SPUBLISH, whatever the
// number of nodes and watchers. A user topic's payload that cannot be sent
// is retried in the background for a while (see republisher) and Publish
// returns nil; a control payload's failure is returned to the caller.
func (bus *Bus) Publish(ctx context.Context, topic string, payload []byte) error {
	ctx, cancel := bus.b.opContext(ctx)
	defer cancel()
	ch, _ := bus.b.l.channel(topic)
	c := bus.b.client
	err := c.Do(ctx, c.B().Spublish().Channel(ch).Message(rueidis.BinaryString(payload)).Build()).Error()
	if err == nil {
		if topic != controlTopic {
			bus.republish.sent(ch)
		}
		return nil
	}
	if topic != controlTopic && bus.republish.add(ch, bytes.Clone(payload)) {
		bus.b.log.Debug("publish failed; retrying in the background", "topic", topic, "err", err)
		return nil
	}
	return unavailable("publish", err)
}

// Subscribe records interest in topic; its partition's worker subscribes.
func (bus *Bus) Subscribe(topic string, deliver func(payload []byte)) error {
	ch, p := bus.b.l.channel(topic)
	part := bus.parts[p]
	part.mu.Lock()
	part.want[ch] = deliver
	if part.live[ch] {
		// Dropped and wanted again before the worker unsubscribed: the
		// subscription never lapsed, but the new subscriber still waits
		// to hear that it is in effect.
		part.confirm[ch] = true
	}
	part.startLocked()
	part.mu.Unlock()
	part.signal()
	return nil
}

// Unsubscribe drops interest in topic; its partition's worker unsubscribes.
func (bus *Bus) Unsubscribe(topic string) error {
	ch, p := bus.b.l.channel(topic)
	part := bus.parts[p]
	part.mu.Lock()
	delete(part.want, ch)
	part.mu.Unlock()
	part.signal()
	return nil
}

// healthy returns an error when a partition with subscribers cannot
// subscribe.
func (bus *Bus) healthy() error {
	for _, p := range bus.parts {
		p.mu.Lock()
		err := p.failing
		if len(p.want) == 0 {
			err = nil
		}
		p.mu.Unlock()
		if err != nil {
			return fmt.Errorf("pub/sub partition %d: %w", p.idx, err)
		}
	}
	return nil
}

func (bus *Bus) close() {
	for _, p := range bus.parts {
		p.signal()
	}
}

// partition is one channel partition of a node: the channels it wants, the
// ones subscribed on its connection, and the worker reconciling the two.
type partition struct {
	bus *Bus
	idx int

	mu      sync.Mutex
	want    map[string]func([]byte) // channel → deliver
	live    map[string]bool         // subscribed on the current connection
	leaving map[string]bool         // SUNSUBSCRIBE sent by us, not yet confirmed
	confirm map[string]bool         // wanted again while live: owed a nil delivery
	broken  bool                    // the server dropped a subscription: reconnect
	failing error                   // the last attempt to subscribe failed
	started bool

	wake chan struct{}
	// Owned by the worker goroutine.
	conn    rueidis.DedicatedClient
	release func()
	errs    <-chan error
}

func (p *partition) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *partition) startLocked() {
	if p.started {
		return
	}
	p.started = true
	b := p.bus.b
	select {
	case <-b.stop:
		return
	default:
	}
	b.done.Add(1)
	go p.run()
}

// Backoff between attempts to (re)subscribe a partition.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 1 * time.Second
)

func (p *partition) run() {
	defer p.bus.b.done.Done()
	defer p.disconnect()
	stop := p.bus.b.stop
	backoff := time.Duration(0)
	for {
		var retry <-chan time.Time
		if backoff > 0 {
			retry = time.After(backoff)
		}
		select {
		case <-stop:
			return
		case <-p.wake:
		case <-retry:
		case err, ok := <-p.errs:
			p.errs = nil
			if ok && err != nil {
				p.bus.b.log.Warn("pub/sub connection lost; resubscribing", "partition", p.idx, "err", err)
			}
			p.mu.Lock()
			p.broken = true
			p.mu.Unlock()
		}
		if err := p.sync(); err != nil {
			p.mu.Lock()
			if p.failing == nil {
				p.bus.b.log.Warn("pub/sub subscribe failed; retrying", "partition", p.idx, "err", err)
			}
			p.failing = err
			p.mu.Unlock()
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			continue
		}
		p.mu.Lock()
		if p.failing != nil {
			p.bus.b.log.Info("pub/sub partition resubscribed", "partition", p.idx)
		}
		p.failing = nil
		p.mu.Unlock()
		backoff = 0
	}
}

// subscribeBatch bounds the channels of one SSUBSCRIBE or SUNSUBSCRIBE.
const subscribeBatch = 500

// sync makes the subscriptions match the interest, reconnecting first if
// the connection broke or the server dropped a subscription.
func (p *partition) sync() error {
	p.mu.Lock()
	if p.broken {
		p.broken = false
		clear(p.live)
		clear(p.leaving)
		p.mu.Unlock()
		p.disconnect()
		p.mu.Lock()
	}
	var subs, unsubs []string
	for ch := range p.want {
		if !p.live[ch] {
			subs = append(subs, ch)
		}
	}
	for ch := range p.live {
		if p.want[ch] == nil {
			unsubs = append(unsubs, ch)
			p.leaving[ch] = true
			delete(p.live, ch)
		}
	}
	var confirmed []func([]byte)
	for ch := range p.confirm {
		if d := p.want[ch]; d != nil && p.live[ch] {
			confirmed = append(confirmed, d)
		}
	}
	clear(p.confirm)
	p.mu.Unlock()
	for _, d := range confirmed {
		d(nil)
	}
	if len(subs) == 0 && len(unsubs) == 0 {
		return nil
	}
	if p.conn == nil {
		p.connect()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < len(unsubs); i += subscribeBatch {
		batch := unsubs[i:min(i+subscribeBatch, len(unsubs))]
		if err := p.conn.Do(ctx, p.conn.B().Sunsubscribe().Channel(batch...).Build()).Error(); err != nil {
			p.fail()
			return err
		}
	}
	for i := 0; i < len(subs); i += subscribeBatch {
		batch := subs[i:min(i+subscribeBatch, len(subs))]
		if err := p.conn.Do(ctx, p.conn.B().Ssubscribe().Channel(batch...).Build()).Error(); err != nil {
			p.fail()
			return err
		}
		// Subscribed: whatever was published before may have been missed.
		var resync []func([]byte)
		p.mu.Lock()
		for _, ch := range batch {
			p.live[ch] = true
			if d := p.want[ch]; d != nil {
				resync = append(resync, d)
			}
		}
		p.mu.Unlock()
		for _, d := range resync {
			d(nil)
		}
	}
	return nil
}

// fail drops the connection after a failed command; the next sync
// reconnects and subscribes everything again.
func (p *partition) fail() {
	p.mu.Lock()
	p.broken = true
	p.mu.Unlock()
}

func (p *partition) connect() {
	conn, release := p.bus.b.client.Dedicate()
	p.errs = conn.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage:      p.onMessage,
		OnSubscription: p.onSubscription,
	})
	p.conn, p.release = conn, release
}

func (p *partition) disconnect() {
	if p.release != nil {
		p.release()
	}
	p.conn, p.release, p.errs = nil, nil, nil
}

// onMessage runs on the connection's reader: it must not block.
func (p *partition) onMessage(m rueidis.PubSubMessage) {
	p.mu.Lock()
	deliver := p.want[m.Channel]
	p.mu.Unlock()
	if deliver != nil {
		deliver([]byte(m.Message))
	}
}

// onSubscription notices the server dropping a channel we did not ask to
// drop: its slot moved to another node (or the node stopped serving it),
// and the partition must reconnect to the slot's new owner.
func (p *partition) onSubscription(s rueidis.PubSubSubscription) {
	if s.Kind != "sunsubscribe" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leaving[s.Channel] {
		delete(p.leaving, s.Channel)
		return
	}
	if p.live[s.Channel] {
		p.broken = true
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}
