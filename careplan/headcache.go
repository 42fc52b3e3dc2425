package careplan

import (
	"encoding/json"
	"hash/maphash"
	"sync"

	"ucp/store"
)

// headCache remembers the planHead of CarePlan and Composition versions.
// AllowRead runs for every plan a search returns, and decoding the head
// scanned the whole plan's JSON each time; a version never changes, so its
// head is decoded once. The key holds a hash of the JSON besides type, id
// and version, so two stores in one process (tests) or a version number
// reused after a restore never share an entry. Only the decoded JSON is
// cached: the consent and sharing decisions are made afresh on every read.
type headCache struct {
	mu      sync.Mutex
	entries map[headKey]*planHead
}

type headKey struct {
	typ, id string
	version int64
	sum     uint64 // maphash of the JSON
	size    int
}

// maxHeads bounds the cache; past it an arbitrary half is dropped, which
// costs only decodes.
const maxHeads = 1 << 15

var (
	heads    headCache
	headSeed = maphash.MakeSeed()
)

// headOf returns the decoded head of v (a CarePlan or Composition). The
// result is shared: callers must not change it.
func headOf(v *store.Version) (*planHead, error) {
	k := headKey{typ: v.Type, id: v.ID, version: v.VersionID, sum: maphash.Bytes(headSeed, v.JSON), size: len(v.JSON)}
	heads.mu.Lock()
	h := heads.entries[k]
	heads.mu.Unlock()
	if h != nil {
		return h, nil
	}
	h = &planHead{}
	if err := json.Unmarshal(v.JSON, h); err != nil {
		return nil, err
	}
	heads.mu.Lock()
	defer heads.mu.Unlock()
	if heads.entries == nil {
		heads.entries = make(map[headKey]*planHead)
	}
	if len(heads.entries) >= maxHeads {
		for k := range heads.entries {
			if len(heads.entries) < maxHeads/2 {
				break
			}
			delete(heads.entries, k)
		}
	}
	heads.entries[k] = h
	return h, nil
}
