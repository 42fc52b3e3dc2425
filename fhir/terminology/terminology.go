// Package terminology answers the search modifiers that need terminology
// knowledge (:in, :not-in, and :above/:below on codes) from the ValueSet and
// CodeSystem resources held on the server, so a value set an admin stores is
// searchable at once.
package terminology

import (
	"context"
	"encoding/json"
	"strings"

	"ucp/fhir/outcome"
	"ucp/fhir/search"
	"ucp/store"
)

// Store is what the source reads: current resources by a uri parameter.
type Store interface {
	Search(ctx context.Context, q store.Query) (*store.Result, error)
}

// Source implements search.Terminology over the store.
type Source struct {
	Store Store
}

var _ search.Terminology = (*Source)(nil)

// maxDepth bounds value sets that include other value sets.
const maxDepth = 8

type concept struct {
	Code    string    `json:"code"`
	Concept []concept `json:"concept"`
}

type codeSystem struct {
	URL     string    `json:"url"`
	Concept []concept `json:"concept"`
}

type include struct {
	System   string   `json:"system"`
	ValueSet []string `json:"valueSet"`
	Concept  []struct {
		Code string `json:"code"`
	} `json:"concept"`
	Filter []struct {
		Property string `json:"property"`
		Op       string `json:"op"`
		Value    string `json:"value"`
	} `json:"filter"`
}

type valueSet struct {
	URL     string `json:"url"`
	Compose *struct {
		Include []include `json:"include"`
		Exclude []include `json:"exclude"`
	} `json:"compose"`
	Expansion *struct {
		Contains []struct {
			System string `json:"system"`
			Code   string `json:"code"`
		} `json:"contains"`
	} `json:"expansion"`
}

// byURL reads the current resource of typ whose url is u (a |version is
// ignored: the current one answers).
func (s *Source) byURL(ctx context.Context, typ, u string, into any) (bool, error) {
	u, _, _ = strings.Cut(u, "|")
	r, err := s.Store.Search(ctx, store.Query{Types: []string{typ}, Count: 1, Total: store.TotalNone,
		Where: []store.Clause{{Any: []store.Cond{{Param: "url", Type: store.URI, Value: u}}}}})
	if err != nil || len(r.Versions) == 0 {
		return false, err
	}
	return true, json.Unmarshal(r.Versions[0].JSON, into)
}

// Expand implements search.Terminology: the value set's stored expansion
// if it has one, else its compose (whole code systems, listed concepts,
// is-a / descendent-of filters, included value sets, excludes).
func (s *Source) Expand(ctx context.Context, url string) ([]search.Coding, error) {
	return s.expand(ctx, url, 0)
}

func (s *Source) expand(ctx context.Context, url string, depth int) ([]search.Coding, error) {
	if depth > maxDepth {
		return nil, outcome.Errorf(outcome.Invalid, "value set %s includes value sets more than %d deep", url, maxDepth)
	}
	var vs valueSet
	ok, err := s.byURL(ctx, "ValueSet", url, &vs)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, outcome.Errorf(outcome.Invalid, "no ValueSet %s on this server", url)
	}
	if vs.Expansion != nil && len(vs.Expansion.Contains) > 0 {
		out := make([]search.Coding, 0, len(vs.Expansion.Contains))
		for _, c := range vs.Expansion.Contains {
			out = append(out, search.Coding{System: c.System, Code: c.Code})
		}
		return out, nil
	}
	if vs.Compose == nil {
		return nil, outcome.Errorf(outcome.Invalid, "ValueSet %s has neither a compose nor an expansion", url)
	}
	var out []search.Coding
	seen := map[search.Coding]bool{}
	for _, inc := range vs.Compose.Include {
		codes, err := s.include(ctx, inc, depth)
		if err != nil {
			return nil, err
		}
		for _, c := range codes {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	if len(vs.Compose.Exclude) > 0 {
		drop := map[search.Coding]bool{}
		for _, exc := range vs.Compose.Exclude {
			codes, err := s.include(ctx, exc, depth)
			if err != nil {
				return nil, err
			}
			for _, c := range codes {
				drop[c] = true
			}
		}
		kept := out[:0]
		for _, c := range out {
			if !drop[c] {
				kept = append(kept, c)
			}
		}
		out = kept
	}
	return out, nil
}

func (s *Source) include(ctx context.Context, inc include, depth int) ([]search.Coding, error) {
	var codes []search.Coding
	switch {
	case len(inc.Concept) > 0:
		for _, c := range inc.Concept {
			codes = append(codes, search.Coding{System: inc.System, Code: c.Code})
		}
	case inc.System != "":
		cs, err := s.codeSystem(ctx, inc.System)
		if err != nil {
			return nil, err
		}
		all := flatten(cs.Concept)
		if len(inc.Filter) > 0 {
			all = nil
			for _, f := range inc.Filter {
				if f.Property != "concept" || (f.Op != "is-a" && f.Op != "descendent-of") {
					return nil, outcome.Errorf(outcome.Unsupported, "value set filter %s %s is not supported", f.Property, f.Op)
				}
				below := descendants(cs.Concept, f.Value)
				if f.Op == "is-a" && below != nil {
					all = append(all, f.Value)
				}
				all = append(all, below...)
			}
		}
		for _, c := range all {
			codes = append(codes, search.Coding{System: inc.System, Code: c})
		}
	}
	if len(inc.ValueSet) > 0 {
		// The codes must also be in every included value set.
		for _, u := range inc.ValueSet {
			sub, err := s.expand(ctx, u, depth+1)
			if err != nil {
				return nil, err
			}
			if inc.System == "" && len(inc.Concept) == 0 && codes == nil {
				codes = sub
				continue
			}
			in := map[search.Coding]bool{}
			for _, c := range sub {
				in[c] = true
			}
			kept := codes[:0]
			for _, c := range codes {
				if in[c] {
					kept = append(kept, c)
				}
			}
			codes = kept
		}
	}
	return codes, nil
}

func (s *Source) codeSystem(ctx context.Context, system string) (*codeSystem, error) {
	var cs codeSystem
	ok, err := s.byURL(ctx, "CodeSystem", system, &cs)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, outcome.Errorf(outcome.Invalid, "no CodeSystem %s on this server", system)
	}
	return &cs, nil
}

// Descendants implements search.Terminology from a stored CodeSystem's
// concept hierarchy.
func (s *Source) Descendants(ctx context.Context, system, code string) ([]string, error) {
	cs, err := s.codeSystem(ctx, system)
	if err != nil {
		return nil, err
	}
	d := descendants(cs.Concept, code)
	if d == nil {
		return nil, outcome.Errorf(outcome.Invalid, "code %s is not in CodeSystem %s", code, system)
	}
	return d, nil
}

// Ancestors implements search.Terminology.
func (s *Source) Ancestors(ctx context.Context, system, code string) ([]string, error) {
	cs, err := s.codeSystem(ctx, system)
	if err != nil {
		return nil, err
	}
	path, ok := ancestors(cs.Concept, code, nil)
	if !ok {
		return nil, outcome.Errorf(outcome.Invalid, "code %s is not in CodeSystem %s", code, system)
	}
	return path, nil
}

func flatten(cs []concept) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Code)
		out = append(out, flatten(c.Concept)...)
	}
	return out
}

// descendants returns the codes below code ([]string{} when it has none),
// or nil when code is not in the hierarchy.
func descendants(cs []concept, code string) []string {
	for _, c := range cs {
		if c.Code == code {
			return append([]string{}, flatten(c.Concept)...)
		}
		if d := descendants(c.Concept, code); d != nil {
			return d
		}
	}
	return nil
}

func ancestors(cs []concept, code string, above []string) ([]string, bool) {
	for _, c := range cs {
		if c.Code == code {
			return append([]string{}, above...), true
		}
		if p, ok := ancestors(c.Concept, code, append(above, c.Code)); ok {
			return p, true
		}
	}
	return nil, false
}
