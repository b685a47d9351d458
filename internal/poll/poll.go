// Package poll waits in tests for a condition to hold, checking it often
// up to a deadline, instead of sleeping a guess.
package poll

import (
	"testing"
	"time"
)

// Within is how long Until waits.
const Within = 10 * time.Second

// Until checks cond every few milliseconds until it holds, and fails the
// test when it still does not after Within.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
