// Package store defines the storage contract of ucp: a Store keeps versions of
// resources and answers queries over index entries computed above it.
//
// FHIR semantics (version numbering, meta, conditional logic, search parameter
// parsing, authorisation, consent) live above the store, so every backend
// behaves the same. A store only:
//   - writes sets of resource versions atomically, checking each change's
//     preconditions inside the same transaction;
//   - reads current versions, specific versions and history;
//   - answers Query values over the index entries written with each version.
//
// Every backend runs the one conformance suite in store/storetest.
package store

import (
	"context"
	"time"
)

// Store is the contract every backend implements.
type Store interface {
	// Read returns the current version of a resource. It returns a NotFound
	// error if the resource never existed, and a Gone error (with the deleted
	// version, see ErrorVersion) if its current version is a deletion.
	Read(ctx context.Context, typ, id string) (*Version, error)

	// VRead returns one version of a resource. NotFound if there is no such
	// version; a deletion version is returned with Deleted set and no JSON.
	VRead(ctx context.Context, typ, id string, version int64) (*Version, error)

	// Write applies all changes atomically: either every change is stored
	// or none is. Each change's preconditions are checked inside the write:
	// a Change whose PrevVersion does not match the stored current version
	// fails with a Conflict error; a Change whose IfNoneMatch query matches
	// a current resource fails with a Conflict error carrying the matching
	// references (see ErrorMatches). Invalid changes (missing type or id,
	// duplicate type/id within one Write) fail with Invalid.
	// Write returns the stored versions in the order of changes.
	Write(ctx context.Context, changes []Change) ([]Version, error)

	// History returns versions newest first (by LastUpdated then write
	// order), filtered by the query.
	History(ctx context.Context, q HistoryQuery) (*HistoryPage, error)

	// Search returns the current, non-deleted resources matching q.
	// Unsupported if q uses something this backend cannot answer; Invalid if
	// q is malformed (e.g. a bad cursor).
	Search(ctx context.Context, q Query) (*Result, error)

	// Close releases the store's resources.
	Close() error
}

// Version is one stored version of a resource.
type Version struct {
	Type        string
	ID          string
	VersionID   int64     // 1, 2, 3… per resource
	LastUpdated time.Time // as written in meta.lastUpdated (UTC, microsecond precision kept by every backend)
	Deleted     bool      // this version records a deletion; JSON is nil
	Method      string    // the HTTP method that made it: POST, PUT, PATCH or DELETE (for history bundles)
	JSON        []byte    // the canonical resource JSON, id and meta already set
}

// Change is one resource version to write.
type Change struct {
	Type string
	ID   string
	// VersionID and LastUpdated are the new version's; the caller has already
	// put them into JSON's meta.
	VersionID   int64
	LastUpdated time.Time
	Method      string
	Deleted     bool   // write a deletion version (JSON nil, no index entries)
	JSON        []byte // canonical JSON of the new version

	// PrevVersion is the precondition on the stored current version: 0 means
	// the resource must not exist at all; N means the current version (deleted
	// or not) must be N. The store never numbers versions itself.
	PrevVersion int64

	// IfNoneMatch, when set, is a conditional-create precondition: the write
	// fails with Conflict if any current resource matches it. It is checked
	// inside the write transaction, so concurrent identical conditional
	// creates store exactly one resource.
	IfNoneMatch *Query

	// Entries are the search index entries of the new version (replacing the
	// previous version's), and Patients the ids of the Patients in whose
	// compartment it is. Both are ignored for a deletion.
	Entries  []Entry
	Patients []string
}

// Ref names a resource.
type Ref struct {
	Type string
	ID   string
}

// String returns "Type/id".
func (r Ref) String() string { return r.Type + "/" + r.ID }

// HistoryQuery selects versions for a history interaction. Type and ID are
// both empty for system history, ID empty for type history.
type HistoryQuery struct {
	Type   string
	ID     string
	Since  time.Time // only versions with LastUpdated >= Since (zero: all)
	At     time.Time // only versions current at At (zero: no limit) -- optional for backends; Unsupported if not
	Count  int       // page size (>0)
	Cursor string    // from HistoryPage.Next; empty for the first page
}

// HistoryPage is one page of history.
type HistoryPage struct {
	Versions []Version
	Total    int    // number of versions matching the query (all pages)
	Next     string // cursor for the next page, empty on the last
}
