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
	// Included follows, for each path and each of the current, non-deleted
	// resources in from of the path's SourceType (of any type when it is
	// ""), the source's Reference index entries of the path's Param (of any
	// parameter when it is "*") that are local references (RefType and RefID
	// both set), restricted to references of the path's TargetType when it
	// is not "", and returns the current, non-deleted versions they refer
	// to. The result is ordered by path, then by the position of the source
	// in from, then by the order of the source's entries as written; a
	// source that refers to one resource through several entries of one
	// path yields it once for that path. References to resources that do
	// not exist or are deleted, and sources that do not exist or are
	// deleted, yield nothing.
	//
	// Errors: Invalid for a Ref without a type or id, or a path without a
	// Param; Internal for a backend failure.
	Included(ctx context.Context, from []Ref, paths []IncludePath) ([]Inclusion, error)
}

// IncludePath is one _include: SourceType:Param[:TargetType].
type IncludePath struct {
	SourceType string // "" for any type (_include=*)
	Param      string // a reference parameter's code, or "*" for all
	TargetType string // "" for any type
}

// Inclusion is one resource found by Includer.Included: Version, referred to
// by From through Path (an index into the paths asked for).
type Inclusion struct {
	Path    int
	From    Ref
	Version Version
}

// Referrer is implemented by a store that can list the local references of
// stored resources, through the same reference index entries Includer
// follows, without reading what they refer to: a store that keeps some
// types in another store (store/split) reads those targets there.
type Referrer interface {
	// References returns, for each path and each of the current,
	// non-deleted resources in from matching the path's SourceType, the
	// local references (RefType and RefID both set) of the path's Param
	// restricted to the path's TargetType, exactly as Included follows them,
	// but whether or not the target exists. The order is Included's; a
	// source naming one target through several entries of a path yields it
	// once for that path. Errors are Included's.
	References(ctx context.Context, from []Ref, paths []IncludePath) ([]Link, error)
}

// Link is one reference found by Referrer.References: From refers to
// To through Path (an index into the paths asked for).
type Link struct {
	Path int
	From Ref
	To   Ref
}
