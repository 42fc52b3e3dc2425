package service

import (
	"context"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/store"
)

// DefaultMaxIncluded is the default of Config.MaxIncluded: the resources
// _include and _revinclude add to one page, so a broad _revinclude cannot
// make a page (and the memory that builds it) unbounded.
const DefaultMaxIncluded = 1000

// includeChunk is how many sources one Includer call follows, so that the
// included resources read before the bound is reached stay few.
const includeChunk = 100

// maxIterate bounds :iterate rounds.
const maxIterate = 3

// includes resolves _include and _revinclude for a page of matches (R4
// search.html#include). The references of a resource are found through its
// index entries (the same extraction the write used, read back from the
// store when it is a store.Includer), so include follows exactly what the
// reference search parameter means. At most Config.MaxIncluded resources
// are included; cut reports that the bound was reached with more to follow.
func (s *Service) includes(ctx context.Context, req *search.Request, matches []store.Version) (out []store.Version, cut bool, err error) {
	if len(req.Includes) == 0 && len(req.RevIncludes) == 0 {
		return nil, false, nil
	}
	limit := s.cfg.MaxIncluded
	seen := map[string]bool{}
	for _, v := range matches {
		seen[v.Type+"/"+v.ID] = true
	}
	frontier := matches
	for round := 0; round <= maxIterate && len(frontier) > 0 && !cut; round++ {
		if err := ctx.Err(); err != nil {
			return nil, false, err // past the search's deadline: stop here
		}
		var next []store.Version
		full := func() bool { return len(out)+len(next) >= limit }
		add := func(v store.Version) {
			k := v.Type + "/" + v.ID
			if seen[k] {
				return
			}
			// Checked before the read rules, which would record a resource
			// left out here as disclosed. So it may be one the caller cannot
			// see: the warning says only that there may be more.
			if full() {
				cut = true
				return
			}
			// An included resource is a read of its own type: the token's
			// scopes must allow it (a client allowed CarePlan only gets no
			// Patient through _include), and so must the domain's rules.
			if s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "read", Type: v.Type, ID: v.ID}) != nil {
				return
			}
			if s.cfg.ReadInterceptor.AllowRead(ctx, &v, Disclose, s.call) != nil {
				return
			}
			seen[k] = true
			next = append(next, v)
		}
		in, indexed := s.cfg.Store.(store.Includer)
		if indexed {
			for from := frontier; len(from) > 0 && !cut; {
				chunk := from[:min(len(from), includeChunk)]
				from = from[len(chunk):]
				if err := s.includeIndexed(ctx, in, req.Includes, round, chunk, seen, add); err != nil {
					return nil, false, err
				}
			}
		}
		for _, inc := range req.Includes {
			if indexed || (round > 0 && !inc.Iterate) {
				continue
			}
			for _, v := range frontier {
				if inc.SourceType != "" && v.Type != inc.SourceType {
					continue // "" is _include=* in a system search: any type
				}
				refs, err := s.references(v, inc)
				if err != nil {
					return nil, false, err
				}
				for _, r := range refs {
					if seen[r.String()] || !s.types[r.Type] {
						continue
					}
					got, err := s.cfg.Store.Read(ctx, r.Type, r.ID)
					switch outcome.KindOf(err) {
					case outcome.NotFound, outcome.Gone:
						continue // a dangling reference is not an error of the search
					}
					if err != nil {
						return nil, false, err
					}
					add(*got)
				}
			}
		}
		for _, inc := range req.RevIncludes {
			if round > 0 && !inc.Iterate {
				continue
			}
			var targets []store.Version
			for _, v := range frontier {
				if inc.TargetType == "" || v.Type == inc.TargetType {
					targets = append(targets, v)
				}
			}
			if len(targets) == 0 {
				continue
			}
			for _, q := range s.revIncludeQueries(inc, targets) {
				// Pages of one more than there is room for: enough to know
				// whether the bound cuts, without reading what it would cut.
				for !cut {
					q.Count = limit - len(out) - len(next) + 1
					res, err := s.cfg.Store.Search(ctx, q)
					if err != nil {
						return nil, false, err
					}
					for _, v := range res.Versions {
						add(v)
					}
					if res.Next == "" {
						break
					}
					q.Cursor = res.Next
				}
			}
		}
		out = append(out, next...)
		frontier = next
	}
	return out, cut, nil
}

// includeIndexed resolves the round's _includes for the frontier from the
// store's reference index rows: one query for the page and every path,
// where the fallback below parses and re-extracts every source (a fifth of
// an urgent-care query's CPU) and reads each target alone. The rows are the
// ones the write extracted with the same registry, so both follow the same
// references, and the results come in the fallback's order: by _include,
// then source, then reference.
func (s *Service) includeIndexed(ctx context.Context, in store.Includer, incs []search.Include, round int, frontier []store.Version,
	seen map[string]bool, add func(store.Version)) error {
	var paths []store.IncludePath
	for _, inc := range incs {
		if round == 0 || inc.Iterate {
			paths = append(paths, store.IncludePath{SourceType: inc.SourceType, Param: inc.Param, TargetType: inc.TargetType})
		}
	}
	if len(paths) == 0 || len(frontier) == 0 {
		return nil
	}
	from := make([]store.Ref, len(frontier))
	for i, v := range frontier {
		from[i] = store.Ref{Type: v.Type, ID: v.ID}
	}
	got, err := in.Included(ctx, from, paths)
	if err != nil {
		return err
	}
	for _, g := range got {
		if seen[g.Version.Type+"/"+g.Version.ID] || !s.types[g.Version.Type] {
			continue
		}
		add(g.Version)
	}
	return nil
}

// references returns the local references v holds through inc's parameter.
func (s *Service) references(v store.Version, inc search.Include) ([]store.Ref, error) {
	res, err := resource.Parse(v.JSON)
	if err != nil {
		return nil, err
	}
	entries, _, err := s.cfg.Registry.Extract(res)
	if err != nil {
		return nil, err
	}
	var refs []store.Ref
	for _, e := range entries {
		if e.Type != store.Reference || e.RefID == "" || e.RefType == "" {
			continue
		}
		if inc.Param != "*" && e.Param != inc.Param {
			continue
		}
		if inc.TargetType != "" && e.RefType != inc.TargetType {
			continue
		}
		refs = append(refs, store.Ref{Type: e.RefType, ID: e.RefID})
	}
	return refs, nil
}

// maxRevIncludeConds bounds the ORed conditions of one _revinclude query;
// a wildcard over a type with many reference parameters is split into
// several queries rather than one huge OR.
const maxRevIncludeConds = 200

// revIncludeQueries returns the store queries finding the resources that
// refer to targets as inc asks. A named parameter is one query on
// inc.SourceType. Param "*" (_revinclude=Type:* and _revinclude=*) asks, for
// each source type (inc.SourceType, or every served type when it is ""),
// for every reference parameter the Registry knows for that type, so a
// wildcard follows exactly the references the named parameters would.
func (s *Service) revIncludeQueries(inc search.Include, targets []store.Version) []store.Query {
	var out []store.Query
	emit := func(typ string, params []string) {
		var conds []store.Cond
		flush := func() {
			if len(conds) > 0 {
				out = append(out, store.Query{Types: []string{typ}, Where: []store.Clause{{Any: conds}}, Count: DefaultMaxIncluded, Total: store.TotalNone})
				conds = nil
			}
		}
		for _, p := range params {
			for _, v := range targets {
				conds = append(conds, store.Cond{Param: p, Type: store.Reference, RefType: v.Type, RefID: v.ID})
				if len(conds) == maxRevIncludeConds {
					flush()
				}
			}
		}
		flush()
	}
	if inc.Param != "*" {
		emit(inc.SourceType, []string{inc.Param})
		return out
	}
	types := []string{inc.SourceType}
	if inc.SourceType == "" {
		types = s.cfg.Types
	}
	for _, t := range types {
		var params []string
		for _, p := range s.cfg.Registry.Params(t) {
			if p.Type == store.Reference {
				params = append(params, p.Code)
			}
		}
		emit(t, params)
	}
	return out
}
