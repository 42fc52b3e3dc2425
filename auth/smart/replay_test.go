package smart

import (
	"testing"
	"time"
)

func TestReplayCacheBounded(t *testing.T) {
	now := time.Now()
	c := newReplayCache(2)
	if r, f := c.add("a", "1", now.Add(time.Minute), now); r || f {
		t.Fatal("first add")
	}
	if r, _ := c.add("a", "1", now.Add(time.Minute), now); !r {
		t.Fatal("replay not seen")
	}
	if r, _ := c.add("b", "1", now.Add(time.Minute), now); r {
		t.Fatal("the key is (iss, jti): another client may reuse a jti")
	}
	// Full of live entries: refuse rather than forget one.
	if _, f := c.add("c", "1", now.Add(time.Minute), now); !f {
		t.Fatal("want full")
	}
	// Once they expire, there is room again.
	later := now.Add(2 * time.Minute)
	if r, f := c.add("c", "1", later.Add(time.Minute), later); r || f {
		t.Fatal("expired entries not purged")
	}
}
