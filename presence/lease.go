package presence

import "time"

// LeaseState is what renewing a node's lease found in the store.
type LeaseState int

const (
	// LeaseHeld: the lease was the node's and is extended.
	LeaseHeld LeaseState = iota
	// LeaseNew: the store held no lease of the node: its first renewal,
	// or the store lost it (a restart without persistence). The lease is
	// taken.
	LeaseNew
	// LeaseLapsed: the lease lapsed and another node claimed it to end the
	// node's sessions. It is not renewed: the node must carry on under
	// another name and must not write back what was ended.
	LeaseLapsed
)

// Lapsed is a node whose lease lapsed, handed to one claimer.
type Lapsed struct {
	Node string
	// Renewed is the lease's last renewal: the node's last proof of life,
	// when its sessions are last seen.
	Renewed time.Time
}
