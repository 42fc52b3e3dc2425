package pgstate_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"ucp/auth/authstate"
	"ucp/auth/authstate/pgstate"
	"ucp/auth/authstate/statetest"
	"ucp/store/postgres/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

func open(t *testing.T, conn string, opts ...pgstate.Option) *pgstate.Store {
	t.Helper()
	s, err := pgstate.Open(context.Background(), conn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T, clock *statetest.Clock) statetest.State {
		return open(t, cluster.Database(t), pgstate.WithClock(clock.Now))
	})
}

// Two nodes on one database share the state: a session put through one is
// read through the other, and a token id added on one is a replay on the
// other. Both open the table at once, as two nodes starting together do.
func TestNodesShareState(t *testing.T) {
	ctx := context.Background()
	db := cluster.Database(t)
	opened := make(chan *pgstate.Store, 2)
	for range 2 {
		go func() {
			s, err := pgstate.Open(ctx, db)
			if err != nil {
				t.Error(err)
			}
			opened <- s
		}()
	}
	a, b := <-opened, <-opened
	if a == nil || b == nil {
		t.FailNow()
	}
	defer a.Close()
	defer b.Close()
	if err := a.Put(ctx, "session", "s1", []byte("alice"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "session", "s1"); err != nil || string(v) != "alice" {
		t.Errorf("session on the other node: %q, %v; want %q", v, err, "alice")
	}
	if err := a.Add(ctx, "jti", "j1", nil, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(ctx, "jti", "j1", nil, time.Now().Add(time.Minute)); !errors.Is(err, authstate.ErrExists) {
		t.Errorf("token id replayed on the other node: err %v, want ErrExists", err)
	}
}

func TestBadConnectionString(t *testing.T) {
	_, err := pgstate.Open(context.Background(), "postgres://u:secret@%zz")
	if err == nil {
		t.Fatal("Open of a malformed URL succeeded")
	}
	if got := err.Error(); got != "pgstate: the connection string is not valid" {
		t.Errorf("error %q; want one that does not repeat the password", got)
	}
}

// Keys are any string: a launcher and a link's jti are joined by a NUL,
// which PostgreSQL's text type refuses.
func TestKeysAreBytes(t *testing.T) {
	ctx := context.Background()
	s := open(t, cluster.Database(t))
	for _, key := range []string{"launcher\x00jti", "\xff\xfe not UTF-8"} {
		if err := s.Add(ctx, "jti", key, nil, time.Now().Add(time.Minute)); err != nil {
			t.Errorf("Add %q: %v", key, err)
		}
		if err := s.Add(ctx, "jti", key, nil, time.Now().Add(time.Minute)); !errors.Is(err, authstate.ErrExists) {
			t.Errorf("second Add %q: err %v, want ErrExists", key, err)
		}
		if err := s.Put(ctx, "session", key, []byte("v"), time.Now().Add(time.Minute)); err != nil {
			t.Errorf("Put %q: %v", key, err)
		}
		if v, err := s.Take(ctx, "session", key); err != nil || string(v) != "v" {
			t.Errorf("Take %q: %q, %v", key, v, err)
		}
		if err := s.Delete(ctx, "jti", key); err != nil {
			t.Errorf("Delete %q: %v", key, err)
		}
	}
}
