package postgres

import (
	"context"
	"crypto/rand"
)

// Secret returns the random key of size bytes stored under name, making
// and storing it first if there is none. Every node on the database gets
// the same key: of two nodes making it at once, the insert that commits
// first wins and the other's does nothing, so both read back the winner's.
// A key already stored is returned whatever size is asked.
func (s *Store) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, storeErr(err, "postgres: secret")
	}
	if _, err := s.pool.Exec(ctx,
		`INSERT INTO server_secret (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
		return nil, storeErr(err, "postgres: secret")
	}
	var key []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM server_secret WHERE name = $1`, name).Scan(&key); err != nil {
		return nil, storeErr(err, "postgres: secret")
	}
	return key, nil
}
