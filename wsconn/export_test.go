package wsconn

// HighWater returns the largest pending byte count seen right after a write
// was accepted on c.
func (c *Conn) HighWater() int64 { return c.highWater.Load() }

// SetAfterTransferHook installs f to run inside Upgrade after the connection
// is in the poller and before Upgrade returns; nil removes it.
func SetAfterTransferHook(f func(*Conn)) {
	if f == nil {
		afterTransferHook.Store(nil)
		return
	}
	afterTransferHook.Store(&f)
}

// EarlyEvents returns the number of events queued before Upgrade returned.
func (c *Conn) EarlyEvents() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.early)
}
