package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"

	"ucp/store"
)

// Backup writes a consistent copy of the database at path into the new file
// to, while a server goes on reading and writing it: SQLite's VACUUM INTO
// reads one snapshot (a WAL read transaction, which blocks no writer) and
// writes it out compacted, with every committed transaction up to the
// snapshot and none after. It refuses a to that exists, so that a backup
// never overwrites another (or the database itself), and removes a partial
// copy when it fails.
func Backup(ctx context.Context, path, to string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("sqlite backup: %w", err)
	}
	// Reserving the name first makes the refusal race-free; VACUUM INTO
	// accepts an existing empty file.
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return store.Errorf(store.Conflict, "sqlite backup: %s already exists; a backup never overwrites a file", to)
		}
		return fmt.Errorf("sqlite backup: %w", err)
	}
	f.Close()
	if err := vacuumInto(ctx, path, to); err != nil {
		os.Remove(to)
		return err
	}
	return nil
}

func vacuumInto(ctx context.Context, path, to string) error {
	q := url.Values{}
	// Read-only: a backup must never change the live database. It waits
	// out a checkpoint rather than failing.
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return storeErr(err, "sqlite backup: open")
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", to); err != nil {
		return storeErr(err, "sqlite backup")
	}
	// VACUUM INTO does not fsync what it wrote: a backup that a power cut
	// can tear is no backup.
	out, err := os.OpenFile(to, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sqlite backup: %w", err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("sqlite backup: %w", err)
	}
	return out.Close()
}

// Size is the database's size in bytes (its pages, free ones included;
// the WAL not counted), for monitoring.
func (s *Store) Size(ctx context.Context) (int64, error) {
	var pages, pageSize int64
	if err := s.r.QueryRowContext(ctx, "SELECT c.page_count, s.page_size FROM pragma_page_count() c, pragma_page_size() s").Scan(&pages, &pageSize); err != nil {
		return 0, storeErr(err, "sqlite: size")
	}
	return pages * pageSize, nil
}
