package hub

import (
	"math/rand/v2"
	"testing"
)

// TestSmallMapBehavesAsAMap drives a smallMap and a Go map with the same
// random operations across the slice/map boundary and compares them.
func TestSmallMapBehavesAsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var m smallMap[int, int]
	want := map[int]int{}
	for step := range 20000 {
		k := r.IntN(3 * smallMax)
		switch r.IntN(4) {
		case 3:
			m.Grow(r.IntN(smallMax))
		case 0, 1:
			m.Set(k, step)
			want[k] = step
		case 2:
			m.Delete(k)
			delete(want, k)
		}
		if m.Len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, m.Len(), len(want))
		}
		v, ok := m.Get(k)
		if w, wok := want[k]; v != w || ok != wok {
			t.Fatalf("step %d: get %d = %d %v, want %d %v", step, k, v, ok, w, wok)
		}
	}
	seen := map[int]int{}
	for k, v := range m.All() {
		seen[k] = v
	}
	if len(seen) != len(want) {
		t.Fatalf("iterated %d entries, want %d", len(seen), len(want))
	}
	for k, v := range want {
		if seen[k] != v {
			t.Fatalf("iterated %d = %d, want %d", k, seen[k], v)
		}
	}
}
