// Package statetest is the one conformance suite of authstate's contract.
// Every implementation (SQLite now, PostgreSQL with several nodes later)
// runs it through Run.
package statetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/auth/authstate"
)

// State is the contract under test.
type State interface {
	Put(ctx context.Context, kind, key string, value []byte, expires time.Time) error
	Add(ctx context.Context, kind, key string, value []byte, expires time.Time) error
	Get(ctx context.Context, kind, key string) ([]byte, error)
	Take(ctx context.Context, kind, key string) ([]byte, error)
	Delete(ctx context.Context, kind, key string) error
	Sweep(ctx context.Context, now time.Time) (int64, error)
}

// Clock is a time the suite moves forward; open must make the store read it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Run runs the suite. open returns a fresh, empty store reading clock.
func Run(t *testing.T, open func(t *testing.T, clock *Clock) State) {
	ctx := context.Background()
	start := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	fresh := func(t *testing.T) (State, *Clock) {
		c := &Clock{now: start}
		return open(t, c), c
	}

	t.Run("PutGetReplace", func(t *testing.T) {
		s, c := fresh(t)
		if _, err := s.Get(ctx, "session", "a"); !errors.Is(err, authstate.ErrNotFound) {
			t.Fatalf("Get of nothing: err %v, want ErrNotFound", err)
		}
		must(t, s.Put(ctx, "session", "a", []byte("one"), c.Now().Add(time.Hour)))
		must(t, s.Put(ctx, "session", "a", []byte("two"), c.Now().Add(time.Hour)))
		got, err := s.Get(ctx, "session", "a")
		must(t, err)
		if diff := cmp.Diff("two", string(got)); diff != "" {
			t.Errorf("Get (-want +got):\n%s", diff)
		}
		// Kinds are separate namespaces.
		if _, err := s.Get(ctx, "code", "a"); !errors.Is(err, authstate.ErrNotFound) {
			t.Errorf("Get of another kind: err %v, want ErrNotFound", err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		s, c := fresh(t)
		must(t, s.Put(ctx, "session", "a", []byte("v"), c.Now().Add(time.Minute)))
		c.advance(time.Minute)
		if _, err := s.Get(ctx, "session", "a"); !errors.Is(err, authstate.ErrNotFound) {
			t.Errorf("Get at expiry: err %v, want ErrNotFound", err)
		}
		if _, err := s.Take(ctx, "session", "a"); !errors.Is(err, authstate.ErrNotFound) {
			t.Errorf("Take at expiry: err %v, want ErrNotFound", err)
		}
	})

	t.Run("AddDetectsReplayUntilExpiry", func(t *testing.T) {
		s, c := fresh(t)
		must(t, s.Add(ctx, "jti", "x", nil, c.Now().Add(2*time.Minute)))
		if err := s.Add(ctx, "jti", "x", nil, c.Now().Add(2*time.Minute)); !errors.Is(err, authstate.ErrExists) {
			t.Fatalf("second Add: err %v, want ErrExists", err)
		}
		c.advance(2 * time.Minute)
		if err := s.Add(ctx, "jti", "x", []byte("again"), c.Now().Add(time.Minute)); err != nil {
			t.Fatalf("Add after expiry: %v", err)
		}
		got, err := s.Get(ctx, "jti", "x")
		must(t, err)
		if string(got) != "again" {
			t.Errorf("Get after re-Add = %q, want %q", got, "again")
		}
	})

	t.Run("TakeIsSingleUse", func(t *testing.T) {
		s, c := fresh(t)
		must(t, s.Put(ctx, "code", "k", []byte("grant"), c.Now().Add(time.Minute)))
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := s.Take(ctx, "code", "k")
				switch {
				case err == nil && string(v) == "grant":
					won.Add(1)
				case errors.Is(err, authstate.ErrNotFound):
				default:
					t.Errorf("Take: %q, %v", v, err)
				}
			}()
		}
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Errorf("%d of 8 concurrent Takes got the value, want exactly 1", n)
		}
	})

	t.Run("DeleteAndSweep", func(t *testing.T) {
		s, c := fresh(t)
		must(t, s.Delete(ctx, "session", "none"))
		must(t, s.Put(ctx, "session", "a", []byte("v"), c.Now().Add(time.Minute)))
		must(t, s.Put(ctx, "session", "b", []byte("v"), c.Now().Add(time.Hour)))
		must(t, s.Delete(ctx, "session", "a"))
		if _, err := s.Get(ctx, "session", "a"); !errors.Is(err, authstate.ErrNotFound) {
			t.Errorf("Get after Delete: err %v, want ErrNotFound", err)
		}
		must(t, s.Put(ctx, "session", "c", []byte("v"), c.Now().Add(time.Minute)))
		n, err := s.Sweep(ctx, c.Now().Add(time.Minute))
		must(t, err)
		if n != 1 {
			t.Errorf("Sweep removed %d, want 1", n)
		}
		if _, err := s.Get(ctx, "session", "b"); err != nil {
			t.Errorf("Sweep removed an unexpired entry: %v", err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
