package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"ucp/auth"
)

// clock is a settable clock for the Verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// A verified token is remembered, but never beyond its exp nor in a form a
// request could change for the next one.
func TestVerifierCacheHonoursExpiry(t *testing.T) {
	start := time.Now()
	clk := &clock{t: start}
	e := newEnv(t, func(c *auth.VerifierConfig) { c.Now = clk.now })
	ctx := context.Background()
	c := e.claims()
	c["exp"] = start.Add(30 * time.Second).Unix()
	tok := e.sign(t, c)

	for _, tc := range []struct {
		name    string
		at      time.Time
		wantErr bool
	}{
		{"first use verifies", start, false},
		{"repeat within exp", start.Add(10 * time.Second), false},
		{"expired although cached", start.Add(31 * time.Second), true},
		{"still expired", start.Add(10 * time.Minute), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.set(tc.at)
			p, err := e.v.Verify(ctx, tok)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Verify at +%s: %v, want error %t", tc.at.Sub(start), err, tc.wantErr)
			}
			if err == nil {
				if p.Role != auth.RoleClinical || p.Org != "F84012" {
					t.Fatalf("principal %+v", p)
				}
				// The caller's copy is its own.
				p.Role, p.Org = auth.RoleNone, "X"
			}
		})
	}
}

// A token that failed once fails every time: only successes are cached, and
// a cached token is found by its exact text only.
func TestVerifierCacheKeysOnExactToken(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tok := e.sign(t, e.claims())
	if _, err := e.v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, tok string }{
		{"signature changed", tok[:len(tok)-2] + flip(tok[len(tok)-2:])},
		{"truncated", tok[:len(tok)-1]},
		{"extra byte", tok + "A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				if _, err := e.v.Verify(ctx, tc.tok); err == nil {
					t.Fatal("a tampered token verified")
				}
			}
		})
	}
	p, err := e.v.Verify(ctx, tok)
	if err != nil || p.Role != auth.RoleClinical {
		t.Fatalf("cached token: %+v %v", p, err)
	}
}

func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}
