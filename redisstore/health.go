package redisstore

import (
	"context"
	"sync"
	"time"
)

// health is the backend's readiness as the probe last found it.
type health struct {
	mu    sync.Mutex
	err   error
	ready bool
}

func (h *health) init() { h.ready = true }

// Ready returns nil when the last probe reached every Redis server and
// every pub/sub partition with subscribers is subscribed; otherwise what
// is wrong.
func (b *Backend) Ready() error {
	b.health.mu.Lock()
	err := b.health.err
	b.health.mu.Unlock()
	if err != nil {
		return err
	}
	return b.Bus.healthy()
}

func (b *Backend) probeLoop() {
	defer b.done.Done()
	t := time.NewTicker(b.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		err := b.probe()
		if err == nil {
			err = b.Bus.healthy()
		}
		b.health.mu.Lock()
		b.health.err = err
		changed := b.health.ready != (err == nil)
		b.health.ready = err == nil
		b.health.mu.Unlock()
		if !changed {
			continue
		}
		if err != nil {
			b.log.Error("redis unavailable: node not ready", "err", err)
		} else {
			b.log.Info("redis available again: node ready")
		}
		if b.cfg.OnReady != nil {
			b.cfg.OnReady(err == nil)
		}
	}
}

// probe pings every Redis server the client knows (the masters of a
// cluster), in parallel: one command per server, whatever the number of
// shards.
func (b *Backend) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ProbeInterval*2)
	defer cancel()
	nodes := b.client.Nodes()
	errs := make(chan error, len(nodes))
	for _, n := range nodes {
		go func() { errs <- n.Do(ctx, n.B().Ping().Build()).Error() }()
	}
	var first error
	for range nodes {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return unavailable("probe", first)
	}
	return nil
}
