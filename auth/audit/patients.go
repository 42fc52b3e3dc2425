package audit

import (
	"hash/maphash"
	"reflect"
	"sync"

	"ucp/store"
)

// patientCache remembers the compartment patients of resource versions.
// Finding them means parsing the whole resource, which cost more than any
// other step of auditing a read; a version never changes, so its patients
// are computed once. The key holds the Extractor and a hash of the JSON
// besides type, id and version, so two stores or registries in one process
// (tests) or a version number reused after a restore never share an entry.
type patientCache struct {
	mu      sync.Mutex
	entries map[patientKey][]string
}

type patientKey struct {
	reg     Extractor // its compartment rules
	typ, id string
	version int64
	sum     uint64 // maphash of the JSON
	size    int
}

// maxPatientCache bounds the cache (a few megabytes): past it, half the
// entries are dropped, an arbitrary half, which costs only parses.
const maxPatientCache = 1 << 15

var (
	patientsOf patientCache
	jsonSeed   = maphash.MakeSeed()
)

// keyOf returns the cache key of v's patients under reg; ok is false when
// reg cannot be part of a map key (then nothing is cached).
func keyOf(reg Extractor, v *store.Version) (patientKey, bool) {
	if !reflect.TypeOf(reg).Comparable() {
		return patientKey{}, false
	}
	return patientKey{reg: reg, typ: v.Type, id: v.ID, version: v.VersionID, sum: maphash.Bytes(jsonSeed, v.JSON), size: len(v.JSON)}, true
}

func (c *patientCache) get(k patientKey) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.entries[k]
	return p, ok
}

func (c *patientCache) put(k patientKey, patients []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[patientKey][]string)
	}
	if len(c.entries) >= maxPatientCache {
		for k := range c.entries {
			if len(c.entries) < maxPatientCache/2 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[k] = patients
}
