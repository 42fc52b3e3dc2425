package main

import (
	"context"
	"time"

	"ucp/bulk/export"
	"ucp/bulk/export/pgexport"
)

// openExportStorage is where $export jobs keep their state and files: in
// the PostgreSQL database of the store, so that every node on it answers
// for every job, or else in dir on this node's disk.
func openExportStorage(ctx context.Context, cfg serveConfig, dir string) (export.Storage, error) {
	if isPostgres(cfg.Store) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		s, err := pgexport.Open(ctx, cfg.Store)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return export.DirStorage{Dir: dir}, nil
}
