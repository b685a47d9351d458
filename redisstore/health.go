package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// health is the backend's readiness as the probe last found it.
type health struct {
	mu    sync.Mutex
	err   error
	ready bool
}

func (h *health) init() { h.ready = true }

// Ready returns nil when the last probe reached every deadline shard (and
// so, with shards spread over the slots, every master) and every pub/sub
// partition with subscribers is subscribed; otherwise what is wrong.
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

// probe touches every deadline shard in one pipeline.
func (b *Backend) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ProbeInterval*2)
	defer cancel()
	cmds := make(rueidis.Commands, DeadlineShards)
	for i := range cmds {
		cmds[i] = b.client.B().Exists().Key(b.l.shardKey(i)).Build()
	}
	var errs []error
	for _, r := range b.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return unavailable("probe", errs[0])
	}
	return nil
}
