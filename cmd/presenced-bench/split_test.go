//go:build linux

package main

import (
	"fmt"
	"testing"
)

// TestSplitUsersDealsEveryUserOnce checks that each user is opened by
// exactly one worker, that the workers are spread evenly over the nodes,
// and that on several nodes a user's ring neighbours are elsewhere.
func TestSplitUsersDealsEveryUserOnce(t *testing.T) {
	for _, c := range []struct{ n, perWorker, nodes, workers int }{
		{10000, 5000, 1, 2}, {10001, 5000, 1, 3}, {15000, 5000, 3, 3}, {15000, 4000, 3, 6}, {7, 5000, 3, 3},
	} {
		t.Run(fmt.Sprintf("%d/%d/%d", c.n, c.perWorker, c.nodes), func(t *testing.T) {
			args, err := splitUsers(openArgs{Ring: 2}, c.n, c.perWorker, c.nodes)
			if err != nil {
				t.Fatal(err)
			}
			if len(args) != c.workers {
				t.Fatalf("%d workers, want %d", len(args), c.workers)
			}
			node := make([]int, c.n) // user → its worker's node, +1
			perNode := make([]int, c.nodes)
			for i, a := range args {
				if a.Count > c.perWorker || a.Count < 1 {
					t.Fatalf("worker %d opens %d", i, a.Count)
				}
				for k := range a.Count {
					u := a.First + k*max(a.Step, 1)
					if u >= c.n || node[u] != 0 {
						t.Fatalf("user %d out of range or dealt twice", u)
					}
					node[u] = i%c.nodes + 1
					perNode[i%c.nodes]++
				}
			}
			for u, nd := range node {
				if nd == 0 {
					t.Fatalf("user %d dealt to no worker", u)
				}
				// Only the ring's wrap-around may stay on a node.
				if c.nodes > 1 && u+1 < c.n && node[u+1] == nd {
					t.Fatalf("users %d and %d, ring neighbours, on the same node", u, u+1)
				}
			}
			for i, k := range perNode {
				if k < c.n/c.nodes || k > c.n/c.nodes+1 {
					t.Fatalf("node %d holds %d of %d users", i, k, c.n)
				}
			}
		})
	}
	if _, err := splitUsers(openArgs{}, 2, 5000, 3); err == nil {
		t.Fatal("2 users over 3 nodes accepted")
	}
}
