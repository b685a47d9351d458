package hub

// Reassert makes every open presence session of this node look at its
// record at the next tick and write itself back if the store lost it (or,
// on a store without node leases, ended it for a lapsed expiry), unless a
// kick ended it: then the connection is closed. With node leases that is
// one read per session and no write for a session the store kept. Call it
// when the store becomes available again; the hub also calls it when its
// lease was lost or its control topic returns.
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
