package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
)

// minCursorKey is the least key material --cursor-key-file must hold: the
// HMAC-SHA256 key's full strength.
const minCursorKey = 32

// readCursorKey reads the paging-cursor key of --cursor-key-file (nil for
// none: the service makes a random one). A short key is refused rather
// than used: cursors sealed with it could be forged.
func readCursorKey(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--cursor-key-file: %w", err)
	}
	// A key written with echo or an editor ends in a newline that another
	// node's copy may lack.
	b = bytes.TrimRight(b, "\r\n")
	if len(b) < minCursorKey {
		return nil, fmt.Errorf("--cursor-key-file %s: %d bytes, want at least %d (e.g. openssl rand -hex 32 > %s)", path, len(b), minCursorKey, path)
	}
	return b, nil
}

// secretKeeper is a store that keeps keys its nodes share
// (store/postgres).
type secretKeeper interface {
	Secret(ctx context.Context, name string, size int) ([]byte, error)
}

// pagingKey is the key that seals paging cursors: --cursor-key-file's when
// given, else one kept in a shared store (so that a cursor one node hands
// out opens on every other), else nil, and the service makes one for this
// process alone.
func pagingKey(ctx context.Context, path string, st any) ([]byte, error) {
	if path != "" {
		return readCursorKey(path)
	}
	k, ok := st.(secretKeeper)
	if !ok {
		return nil, nil
	}
	key, err := k.Secret(ctx, "cursor-key", minCursorKey)
	if err != nil {
		return nil, fmt.Errorf("the paging-cursor key in the store: %w", err)
	}
	return key, nil
}
