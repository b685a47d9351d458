package hub

import "time"

// SetCredentialExpiry replaces c's credential expiry after the client
// presented a new token on the open connection. A later expiry is picked up
// by the check already scheduled; an earlier one moves that check forward so
// the connection still closes on time. It does nothing to a closed client.
func (h *Hub) SetCredentialExpiry(c *Client, expires time.Time) {
	var ns int64
	if !expires.IsZero() {
		ns = expires.UnixNano()
	}
	c.expires.Store(ns)
	if ns == 0 {
		return
	}
	h.live.mu.Lock()
	if at, ok := h.live.q.At(c); ok && expires.Before(at) {
		h.live.q.Set(c, expires)
	}
	h.live.mu.Unlock()
}
