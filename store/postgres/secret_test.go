package postgres

import (
	"bytes"
	"context"
	"sync"
	"testing"
)

// TestSecretIsShared opens the database as several nodes at once and asks
// each for the same secret: all get one key, made once, and another name
// gets another key.
func TestSecretIsShared(t *testing.T) {
	ctx := context.Background()
	db := (*Cluster).Database(t)
	const nodes = 4
	keys := make([][]byte, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, db, Options{})
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			if keys[i], err = s.Secret(ctx, "cursor-key", 32); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(keys[0]) != 32 {
		t.Fatalf("key of %d bytes, want 32", len(keys[0]))
	}
	for i, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Errorf("node %d has another key than node 0", i+1)
		}
	}
	s, err := Open(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := s.Secret(ctx, "another", 32)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, keys[0]) {
		t.Error("two names share one key")
	}
}
