package store

import (
	"hash/maphash"
	"reflect"
	"sync"
)

// VersionMemo remembers values worked out from stored versions. A version
// never changes, so what is derived from its JSON alone (a plan's status
// and subject, a resource's compartment patients) need only be derived
// once, however often the version is read.
//
// An entry is keyed by the version's type, id and number, a hash and the
// length of its JSON, and a scope: whatever else the value depends on (the
// registry whose rules derived it, say). Two stores in one process (tests),
// or a version number reused after a restore, never share an entry.
//
// Past Max entries an arbitrary half is dropped, which costs only the
// derivations again. The zero value is ready to use.
type VersionMemo[V any] struct {
	Max int // entries kept; 0 means DefaultMemoSize

	mu      sync.Mutex
	entries map[memoKey]V
}

// DefaultMemoSize bounds a VersionMemo whose Max is 0.
const DefaultMemoSize = 1 << 15

type memoKey struct {
	scope   any
	typ, id string
	version int64
	sum     uint64
	size    int
}

var memoSeed = maphash.MakeSeed()

// Get returns the value of v under scope, calling derive on a miss. A
// derivation's error is returned and nothing is remembered. When scope
// cannot be a map key (its type is not comparable) nothing is remembered
// either. Values are shared between callers, who must not change them.
func (m *VersionMemo[V]) Get(scope any, v *Version, derive func() (V, error)) (V, error) {
	if scope != nil && !reflect.TypeOf(scope).Comparable() {
		return derive()
	}
	k := memoKey{scope: scope, typ: v.Type, id: v.ID, version: v.VersionID, sum: maphash.Bytes(memoSeed, v.JSON), size: len(v.JSON)}
	m.mu.Lock()
	val, ok := m.entries[k]
	m.mu.Unlock()
	if ok {
		return val, nil
	}
	val, err := derive()
	if err != nil {
		return val, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = make(map[memoKey]V)
	}
	limit := m.Max
	if limit <= 0 {
		limit = DefaultMemoSize
	}
	if len(m.entries) >= limit {
		for k := range m.entries {
			if len(m.entries) < limit/2 {
				break
			}
			delete(m.entries, k)
		}
	}
	m.entries[k] = val
	return val, nil
}

// Len is the number of values remembered.
func (m *VersionMemo[V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
