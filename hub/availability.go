package hub

// Reassert makes every open presence session of this node write itself to
// the store at the next tick, as a liveness refresh does: sessions the
// store lost or ended during an outage come back. Call it when the store
// becomes available again.
func (h *Hub) Reassert() {
	now := h.Now()
	for _, c := range h.allClients() {
		c.mu.Lock()
		live := c.session && !c.closed
		if live {
			c.touched = 0 // refresh even without a new sign of life
		}
		c.mu.Unlock()
		if live {
			h.live.schedule(c, now)
		}
	}
}

// Broadcast queues frame to every open connection, for notices that
// concern everyone (the store became unavailable).
func (h *Hub) Broadcast(frame []byte) {
	for _, c := range h.allClients() {
		c.Send(frame)
	}
}
