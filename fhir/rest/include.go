package rest

import (
	"context"

	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/store"
)

// maxIncluded bounds the resources _include and _revinclude add to one page,
// so a broad _revinclude cannot make a page unbounded.
const maxIncluded = 1000

// maxIterate bounds :iterate rounds.
const maxIterate = 3

// includes resolves _include and _revinclude for a page of matches (R4
// search.html#include). The references of a resource are found through its
// index entries (the same extraction the write used), so include follows
// exactly what the reference search parameter means.
func (s *Server) includes(ctx context.Context, req *search.Request, matches []store.Version) ([]store.Version, error) {
	if len(req.Includes) == 0 && len(req.RevIncludes) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, v := range matches {
		seen[v.Type+"/"+v.ID] = true
	}
	var out []store.Version
	frontier := matches
	for round := 0; round <= maxIterate && len(frontier) > 0 && len(out) < maxIncluded; round++ {
		var next []store.Version
		add := func(v store.Version) {
			k := v.Type + "/" + v.ID
			if seen[k] || len(out)+len(next) >= maxIncluded {
				return
			}
			// An included resource is a read of its own type: the token's
			// scopes must allow it (a client allowed CarePlan only gets no
			// Patient through _include), and so must the domain's rules.
			if s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "read", Type: v.Type, ID: v.ID}) != nil {
				return
			}
			if s.cfg.ReadInterceptor.AllowRead(ctx, &v) != nil {
				return
			}
			seen[k] = true
			next = append(next, v)
		}
		for _, inc := range req.Includes {
			if round > 0 && !inc.Iterate {
				continue
			}
			for _, v := range frontier {
				if v.Type != inc.SourceType {
					continue
				}
				refs, err := s.references(v, inc)
				if err != nil {
					return nil, err
				}
				for _, r := range refs {
					if seen[r.String()] || !s.types[r.Type] {
						continue
					}
					got, err := s.cfg.Store.Read(ctx, r.Type, r.ID)
					switch store.KindOf(err) {
					case store.NotFound, store.Gone:
						continue // a dangling reference is not an error of the search
					}
					if err != nil {
						return nil, err
					}
					add(*got)
				}
			}
		}
		for _, inc := range req.RevIncludes {
			if round > 0 && !inc.Iterate {
				continue
			}
			var conds []store.Cond
			for _, v := range frontier {
				if inc.TargetType != "" && v.Type != inc.TargetType {
					continue
				}
				conds = append(conds, store.Cond{Param: inc.Param, Type: store.Reference, RefType: v.Type, RefID: v.ID})
			}
			if len(conds) == 0 || inc.Param == "*" {
				continue
			}
			res, err := s.cfg.Store.Search(ctx, store.Query{
				Types: []string{inc.SourceType}, Where: []store.Clause{{Any: conds}},
				Count: maxIncluded, Total: store.TotalNone,
			})
			if err != nil {
				return nil, err
			}
			for _, v := range res.Versions {
				add(v)
			}
		}
		out = append(out, next...)
		frontier = next
	}
	return out, nil
}

// references returns the local references v holds through inc's parameter.
func (s *Server) references(v store.Version, inc search.Include) ([]store.Ref, error) {
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
