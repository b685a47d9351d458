package presence

import "time"

// Clock tells the time. Every timed rule of the presence model (grace, TTL,
// idle, expiries) reads the time through a Clock so tests can drive it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
