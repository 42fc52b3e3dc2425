package store

import "context"

// Reindexer is implemented by a store that can replace the index entries of
// stored resources without writing a version: $reindex uses it so that a
// search parameter registered after resources were written finds them. It
// is a separate interface, not a Store method, so that a Store wrapper or a
// backend without it stays a Store; callers type-assert and answer
// Unsupported when it is missing. Every backend in this module implements
// it and runs its storetest cases.
type Reindexer interface {
	// Reindex replaces, for each update, the index entries and Patient
	// compartment of the current version of update.Type/update.ID with
	// update.Entries and update.Patients, exactly as a Write of that version
	// would have stored them. It writes no version: the resource's version,
	// lastUpdated, JSON and history are unchanged.
	//
	// The updates are applied in one transaction. An update is applied only
	// if the resource's current version is still update.VersionID and is not
	// a deletion; otherwise (the resource was updated, deleted or never
	// existed since the caller read it) it is skipped, not an error: the
	// write that replaced the version indexed it with the then current
	// parameters. Reindex returns how many updates were applied.
	//
	// Errors: Invalid for an update without a type or id or with a version
	// below 1, or for the same resource twice in one call; Unsupported for an
	// entry type the backend cannot store; Internal for a backend failure
	// (then nothing is applied).
	Reindex(ctx context.Context, updates []IndexUpdate) (int, error)
}

// IndexUpdate is the new index of one current resource version, for
// Reindexer.Reindex.
type IndexUpdate struct {
	Type      string
	ID        string
	VersionID int64 // the version the entries were extracted from
	Entries   []Entry
	Patients  []string
}
