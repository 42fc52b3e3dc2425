package authstate_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"ucp/auth/authstate"
	"ucp/auth/authstate/statetest"
)

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T, clock *statetest.Clock) statetest.State {
		s, err := authstate.Open(context.Background(), filepath.Join(t.TempDir(), "auth.db"), authstate.WithClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// A session written before a restart is there after it.
func TestSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "auth.db")
	s, err := authstate.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "session", "a", []byte("v"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = authstate.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get(ctx, "session", "a"); err != nil || string(v) != "v" {
		t.Errorf("after reopen: %q, %v; want %q", v, err, "v")
	}
}
