// Package localbus is the in-process event bus of a single node: Publish
// hands the payload straight to the topic's subscriber.
package localbus

import (
	"context"
	"sync"
)

// Bus is an in-process bus. It is safe for concurrent use.
type Bus struct {
	mu   sync.RWMutex
	subs map[string]func([]byte)
}

// New returns an empty bus.
func New() *Bus { return &Bus{subs: make(map[string]func([]byte))} }

// Publish delivers payload to topic's subscriber, if any, on the caller's
// goroutine. No lock is held during delivery.
func (b *Bus) Publish(_ context.Context, topic string, payload []byte) error {
	b.mu.RLock()
	deliver := b.subs[topic]
	b.mu.RUnlock()
	if deliver != nil {
		deliver(payload)
	}
	return nil
}

// Subscribe sets topic's subscriber.
func (b *Bus) Subscribe(topic string, deliver func([]byte)) error {
	b.mu.Lock()
	b.subs[topic] = deliver
	b.mu.Unlock()
	return nil
}

// Unsubscribe removes topic's subscriber.
func (b *Bus) Unsubscribe(topic string) error {
	b.mu.Lock()
	delete(b.subs, topic)
	b.mu.Unlock()
	return nil
}
