package smart

import (
	"sync"
	"time"
)

// replayCache remembers (iss, jti) of accepted client assertions until they
// expire, so a captured assertion cannot be used again. It is bounded: when
// full of unexpired entries it refuses new ones (fail closed) rather than
// forget one that could then be replayed.
type replayCache struct {
	mu   sync.Mutex
	max  int
	seen map[replayKey]time.Time // → exp
}

type replayKey struct{ iss, jti string }

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: map[replayKey]time.Time{}}
}

// add records the pair. It returns replayed if it was already there, and
// full if there is no room.
func (c *replayCache) add(iss, jti string, exp, now time.Time) (replayed, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := replayKey{iss, jti}
	if e, ok := c.seen[k]; ok && !e.Before(now) {
		return true, false
	}
	if len(c.seen) >= c.max {
		for k, e := range c.seen {
			if e.Before(now) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.max {
			return false, true
		}
	}
	c.seen[k] = exp
	return false, false
}
