package auth

import (
	"sync"
	"time"
)

// A client sends the same access token with every request until it
// expires, and checking its signature (an ECDSA or RSA verification, plus
// JSON parsing of the header and claims) cost about a twentieth of an
// urgent-care query. verifiedCache remembers the principal of each token
// that verified, keyed by the exact token string, so a repeat costs a map
// lookup. Only successes are kept; a token is used from the cache only
// before its exp (checked strictly, as the uncached path does) and for at
// most verifiedMaxAge, so that an issuer's withdrawn signing key stops
// working here within that time.
type verifiedCache struct {
	mu      sync.Mutex
	entries map[string]verifiedEntry
}

type verifiedEntry struct {
	p     *Principal
	until time.Time // min(exp, verified + verifiedMaxAge)
}

const (
	// verifiedMaxAge bounds how long one verification is trusted.
	verifiedMaxAge = time.Minute
	// verifiedMax bounds the cache: about a megabyte of tokens per 1,000.
	verifiedMax = 4096
)

// get returns a copy of the principal cached for raw, or nil when there is
// none valid at now.
func (c *verifiedCache) get(raw string, now time.Time) *Principal {
	c.mu.Lock()
	e, ok := c.entries[raw]
	if ok && !now.Before(e.until) {
		delete(c.entries, raw)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	// A copy: the request may not change what later requests get.
	p := *e.p
	return &p
}

// put remembers p, verified at now, for raw.
func (c *verifiedCache) put(raw string, p *Principal, now time.Time) {
	until := now.Add(verifiedMaxAge)
	if !p.Expiry.IsZero() && p.Expiry.Before(until) {
		until = p.Expiry
	}
	if !now.Before(until) {
		return
	}
	cp := *p
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]verifiedEntry)
	}
	if len(c.entries) >= verifiedMax {
		// Drop the expired, and if that is not enough an arbitrary half:
		// a dropped token is only verified again.
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < verifiedMax/2 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[raw] = verifiedEntry{p: &cp, until: until}
}
