package storetest

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/internal/poll"
)

// BusFactory returns n buses of one deployment, as its n nodes hold them.
// Nodes is the most it can return: 1 for a single-node bus.
type BusFactory struct {
	New   func(t *testing.T, n int) []hub.Bus
	Nodes int
}

// RunBus runs the hub.Bus contract against buses from f.
func RunBus(t *testing.T, f BusFactory) {
	t.Run("PublishReachesSubscribers", func(t *testing.T) { testPublish(t, f.New(t, 1)[0]) })
	t.Run("OrderPerTopic", func(t *testing.T) { testOrder(t, f.New(t, 1)[0]) })
	t.Run("UnsubscribeStops", func(t *testing.T) { testUnsubscribe(t, f.New(t, 1)[0]) })
	t.Run("SubscribeDoesNotBlock", func(t *testing.T) { testSubscribeFast(t, f.New(t, 1)[0]) })
	t.Run("PayloadsAreBinarySafe", func(t *testing.T) { testBinary(t, f.New(t, 1)[0]) })
	if f.Nodes >= 3 {
		t.Run("EveryNodeReceives", func(t *testing.T) { testNodes(t, f.New(t, 3)) })
	}
}

// inbox collects what a subscription delivers. A nil payload (the bus
// saying the subscription took effect) is counted apart.
type inbox struct {
	mu     sync.Mutex
	got    [][]byte
	resync int
	ch     chan struct{}
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1)} }

func (b *inbox) deliver(p []byte) {
	b.mu.Lock()
	if p == nil {
		b.resync++
	} else {
		b.got = append(b.got, bytes.Clone(p))
	}
	b.mu.Unlock()
	select {
	case b.ch <- struct{}{}:
	default:
	}
}

func (b *inbox) payloads() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.got...)
}

// waitFor polls cond until it holds, failing after 10s.

// subscribed subscribes box to topic on bus and waits until the
// subscription works: an asynchronous bus takes effect later, so probes
// are published until one arrives. The probes are then forgotten.
func subscribed(t *testing.T, bus hub.Bus, topic string, box *inbox) {
	t.Helper()
	if err := bus.Subscribe(topic, box.deliver); err != nil {
		t.Fatal(err)
	}
	probe := []byte("probe:" + topic)
	poll.Until(t, "the subscription to "+topic+" to work", func() bool {
		if err := bus.Publish(ctx(t), topic, probe); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(50 * time.Millisecond)
		for time.Now().Before(deadline) {
			for _, p := range box.payloads() {
				if bytes.Equal(p, probe) {
					return true
				}
			}
			time.Sleep(time.Millisecond)
		}
		return false
	})
	// Let stray probes drain: one more probe, then drop all up to it.
	last := []byte("probe-last:" + topic)
	if err := bus.Publish(ctx(t), topic, last); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the last probe", func() bool {
		ps := box.payloads()
		return len(ps) > 0 && bytes.Equal(ps[len(ps)-1], last)
	})
	box.mu.Lock()
	box.got = nil
	box.mu.Unlock()
}

func testPublish(t *testing.T, bus hub.Bus) {
	box := newInbox()
	subscribed(t, bus, "u:alice", box)
	quiet := newInbox()
	subscribed(t, bus, "u:bob", quiet)
	if err := bus.Publish(ctx(t), "u:alice", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "hello", func() bool { return len(box.payloads()) == 1 })
	if p := box.payloads()[0]; string(p) != "hello" {
		t.Fatalf("got %q", p)
	}
	if got := quiet.payloads(); len(got) != 0 {
		t.Fatalf("another topic's subscriber got %q", got)
	}
}

func testOrder(t *testing.T, bus hub.Bus) {
	box := newInbox()
	subscribed(t, bus, "u:carol", box)
	const n = 200
	for i := range n {
		if err := bus.Publish(ctx(t), "u:carol", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, "every message", func() bool { return len(box.payloads()) == n })
	for i, p := range box.payloads() {
		if string(p) != strconv.Itoa(i) {
			t.Fatalf("message %d is %q: order not kept", i, p)
		}
	}
}

func testUnsubscribe(t *testing.T, bus hub.Bus) {
	box := newInbox()
	subscribed(t, bus, "u:dave", box)
	if err := bus.Unsubscribe("u:dave"); err != nil {
		t.Fatal(err)
	}
	// Once unsubscribed, a new subscriber of another topic sees its own
	// messages while the old one hears nothing more.
	marker := newInbox()
	subscribed(t, bus, "u:dave-marker", marker)
	for range 3 {
		if err := bus.Publish(ctx(t), "u:dave", []byte("after")); err != nil {
			t.Fatal(err)
		}
	}
	if err := bus.Publish(ctx(t), "u:dave-marker", []byte("mark")); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the marker", func() bool { return len(marker.payloads()) == 1 })
	// An asynchronous bus may deliver what was published before the
	// unsubscription took effect, never after: poll a little longer.
	time.Sleep(50 * time.Millisecond)
	for _, p := range box.payloads() {
		if string(p) == "after" {
			poll.Until(t, "the unsubscription to take effect", func() bool {
				before := len(box.payloads())
				_ = bus.Publish(ctx(t), "u:dave", []byte("after"))
				time.Sleep(20 * time.Millisecond)
				return len(box.payloads()) == before
			})
			break
		}
	}
	// Subscribing again works.
	again := newInbox()
	subscribed(t, bus, "u:dave", again)
}

func testSubscribeFast(t *testing.T, bus hub.Bus) {
	const n = 2000
	var mu sync.Mutex // the hub calls Subscribe under its locks
	start := time.Now()
	mu.Lock()
	for i := range n {
		if err := bus.Subscribe("u:fast"+strconv.Itoa(i), func([]byte) {}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if err := bus.Unsubscribe("u:fast" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Unlock()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("%d subscribes and unsubscribes took %s; they must not wait on the network", n, d)
	}
}

func testBinary(t *testing.T, bus hub.Bus) {
	box := newInbox()
	subscribed(t, bus, "u:bin", box)
	payload := make([]byte, 256)
	for i := range payload {
		payload[i] = byte(i)
	}
	if err := bus.Publish(ctx(t), "u:bin", payload); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the payload", func() bool { return len(box.payloads()) == 1 })
	if !bytes.Equal(box.payloads()[0], payload) {
		t.Fatal("payload changed in transit")
	}
}

// testNodes checks that a publish on one node reaches every node
// subscribed to the topic and no other, control topic included.
func testNodes(t *testing.T, buses []hub.Bus) {
	for _, topic := range []string{"u:erin", "ctl"} {
		boxes := []*inbox{newInbox(), newInbox()}
		for i, bus := range buses[:2] {
			subscribed(t, bus, topic, boxes[i])
		}
		// The second subscription's probes reached the first: start clean.
		sync := []byte("sync:" + topic)
		if err := buses[2].Publish(ctx(t), topic, sync); err != nil {
			t.Fatal(err)
		}
		for _, box := range boxes {
			poll.Until(t, "the sync message", func() bool {
				ps := box.payloads()
				return len(ps) > 0 && bytes.Equal(ps[len(ps)-1], sync)
			})
			box.mu.Lock()
			box.got = nil
			box.mu.Unlock()
		}
		for i, from := range buses {
			msg := []byte(fmt.Sprintf("%s from %d", topic, i))
			if err := from.Publish(ctx(t), topic, msg); err != nil {
				t.Fatal(err)
			}
			for j := range 2 {
				poll.Until(t, fmt.Sprintf("node %d to get %q", j, msg), func() bool {
					ps := boxes[j].payloads()
					return len(ps) > 0 && bytes.Equal(ps[len(ps)-1], msg)
				})
			}
		}
		for j := range 2 {
			if n := len(boxes[j].payloads()); n != len(buses) {
				t.Fatalf("node %d got %d messages on %s, want %d", j, n, topic, len(buses))
			}
		}
	}
}
