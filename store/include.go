package store

import "context"

// Includer is implemented by a store that can follow the references of
// stored resources through the reference index entries written with them,
// so that _include (R4 search.html#include) reads one query per page instead
// of parsing and re-extracting every matched resource and reading each
// referenced one alone. Like Reindexer it is a separate interface, not a
// Store method, so that a Store wrapper or a backend without it stays a
// Store; callers type-assert and fall back to extraction when it is missing.
type Includer interface {
	// Included follows, for each of the current, non-deleted resources in
	// from, its Reference index entries of parameter param (of any
	// parameter when param is "*") that are local references (RefType and
	// RefID both set), restricted to references of type targetType when it
	// is not "", and returns the current, non-deleted versions they refer
	// to. The result is ordered by the position of the source in from, then
	// by the order of its entries as written; a source that refers to one
	// resource through several entries yields it once. References to
	// resources that do not exist or are deleted, and sources that do not
	// exist or are deleted, yield nothing.
	//
	// Errors: Invalid for a Ref without a type or id; Internal for a
	// backend failure.
	Included(ctx context.Context, from []Ref, param, targetType string) ([]Inclusion, error)
}

// Inclusion is one resource found by Includer.Included: Version, referred to
// by From.
type Inclusion struct {
	From    Ref
	Version Version
}
