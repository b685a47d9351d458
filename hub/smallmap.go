package hub

import "iter"

// smallMap is a map kept as two slices while it holds few entries. Both
// sides of a subscription live in one: a connection's watched users and a
// user's local watchers. Most hold a handful, where a Go map costs about
// 375 bytes at 10 entries against 160 for the slices, and a scan of a few
// pointers is as fast as hashing. Keys and values are separate slices so
// that a set (V struct{}) stores the keys alone. Past smallMax entries it
// is a map.
type smallMap[K comparable, V any] struct {
	keys []K
	vals []V
	many map[K]V
}

const smallMax = 16

func (m *smallMap[K, V]) Len() int {
	if m.many != nil {
		return len(m.many)
	}
	return len(m.keys)
}

func (m *smallMap[K, V]) index(k K) int {
	for i := range m.keys {
		if m.keys[i] == k {
			return i
		}
	}
	return -1
}

func (m *smallMap[K, V]) Get(k K) (V, bool) {
	if m.many != nil {
		v, ok := m.many[k]
		return v, ok
	}
	if i := m.index(k); i >= 0 {
		return m.vals[i], true
	}
	var zero V
	return zero, false
}

// Grow makes room for n more entries at once, so that a batch of them
// allocates once and exactly.
func (m *smallMap[K, V]) Grow(n int) {
	if m.many != nil || len(m.keys)+n > smallMax || cap(m.keys)-len(m.keys) >= n {
		return
	}
	keys := make([]K, len(m.keys), len(m.keys)+n)
	vals := make([]V, len(m.vals), len(m.keys)+n)
	copy(keys, m.keys)
	copy(vals, m.vals)
	m.keys, m.vals = keys, vals
}

func (m *smallMap[K, V]) Set(k K, v V) {
	if m.many != nil {
		m.many[k] = v
		return
	}
	if i := m.index(k); i >= 0 {
		m.vals[i] = v
		return
	}
	if len(m.keys) < smallMax {
		m.keys = append(m.keys, k)
		m.vals = append(m.vals, v)
		return
	}
	m.many = make(map[K]V, 2*smallMax)
	for i, k := range m.keys {
		m.many[k] = m.vals[i]
	}
	m.many[k] = v
	m.keys, m.vals = nil, nil
}

func (m *smallMap[K, V]) Delete(k K) {
	if m.many != nil {
		delete(m.many, k)
		if len(m.many) == 0 {
			m.many = nil
		}
		return
	}
	i := m.index(k)
	if i < 0 {
		return
	}
	last := len(m.keys) - 1
	m.keys[i], m.vals[i] = m.keys[last], m.vals[last]
	var zk K
	var zv V
	m.keys[last], m.vals[last] = zk, zv
	m.keys, m.vals = m.keys[:last], m.vals[:last]
	if last == 0 {
		m.keys, m.vals = nil, nil
	}
}

// All yields every entry. The map must not change during the iteration.
func (m *smallMap[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if m.many != nil {
			for k, v := range m.many {
				if !yield(k, v) {
					return
				}
			}
			return
		}
		for i, k := range m.keys {
			if !yield(k, m.vals[i]) {
				return
			}
		}
	}
}
