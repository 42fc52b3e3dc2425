package search

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"ucp/fhir/outcome"
	"ucp/store"
)

// Request is a parsed search request.
type Request struct {
	// Query is what the store answers: Types is the resource type (or the
	// _type list of a system search), Where the criteria, Sort, Count and
	// Total the result controls.
	Query store.Query
	// Summary is _summary: "", "true", "text", "data", "count" or "false".
	// With "count", Query.Count is 0.
	Summary string
	// Elements is _elements, as listed.
	Elements []string
	// Includes and RevIncludes are _include and _revinclude.
	Includes    []Include
	RevIncludes []Include
	// Ignored lists the parameters ignored under lenient handling (unknown
	// parameters, unsupported modifiers), as "name" or "name:modifier", for
	// the REST layer's OperationOutcome warning.
	Ignored []string
	// Used is the parameters that were applied, for the Bundle's self link
	// (R4 requires it to show what the server actually used).
	Used url.Values
}

// Include is one _include or _revinclude: resources of SourceType whose
// reference parameter Param points at (TargetType, when set) are included.
// For _include SourceType is the searched type; for _revinclude it is the
// referring type. Param "*" means every reference parameter of SourceType
// ("_include=CarePlan:*"); the bare value "*" is Param "*" with SourceType
// the searched type for _include ("" at system level: any type) and ""
// for _revinclude: resources of any type referring to a match through any
// reference parameter. Iterate is :iterate (also accepted as the older
// :recurse).
type Include struct {
	SourceType string
	Param      string
	TargetType string
	Iterate    bool
}

// maxChain bounds chain and _has nesting: deep chains are costly joins and
// nobody needs more (R4 servers commonly stop at 2 or 3).
const maxChain = 3

// The size limits of a search (stated in the CapabilityStatement). They are
// far above what a client asking about patients needs, and low enough that
// every search within them runs as one query the store accepts.
const (
	// MaxValues bounds the comma-separated (ORed) values of one parameter.
	MaxValues = 100
	// MaxIDValues bounds them for _id: a batch of plans fetched by id may
	// legitimately run to a few hundred.
	MaxIDValues = 1000
	// MaxParams bounds the parameters of one search, repeats counted.
	MaxParams = 100
	// MaxTotalValues bounds the values of every parameter of one search
	// together.
	MaxTotalValues = 2000
)

// ignorable is a parse failure that lenient handling ignores: an unknown
// parameter or an unsupported modifier. Anything else (a malformed value) is
// an error even under lenient handling.
type ignorable struct{ msg string }

func (e *ignorable) Error() string { return e.msg }

func ignore(format string, args ...any) error {
	return &ignorable{msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return outcome.Errorf(outcome.Invalid, format, args...)
}

// Parse parses a search request's parameters (R4 search.html) for
// resourceType ("" for a system search, where _type narrows the types).
//
// Comma-separated values are ORed (one store.Clause), repeated parameters
// ANDed. With strict (the REST layer's default; lenient only under Prefer:
// handling=lenient) unknown parameters and unsupported modifiers are
// Invalid errors naming them and the nearest known name; otherwise they are
// listed in Request.Ignored. Malformed values are Invalid errors either
// way. _format and _pretty are left to the REST layer; an empty value is
// ignored, as the spec says.
//
// ctx is the request's: the terminology lookups of :in, :not-in, :above
// and :below run under it, and end with it (their error is then the
// context's, not Invalid).
//
// Every other error is a *outcome.Error of kind Invalid naming the parameter.
func (r *Registry) Parse(ctx context.Context, resourceType string, params url.Values, strict bool) (*Request, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if resourceType != "" && !r.knownType(resourceType) {
		return nil, invalid("unknown resource type %q", resourceType)
	}
	n := 0
	for _, vals := range params {
		n += len(vals)
	}
	if n > MaxParams {
		return nil, invalid("the search has %d parameters; at most %d are allowed", n, MaxParams)
	}
	req := &Request{Used: url.Values{}}
	req.Query.Count = DefaultCount
	if resourceType != "" {
		req.Query.Types = []string{resourceType}
	}
	// The type whose parameters apply: a system search with one _type uses
	// that type's, otherwise only the Resource-level ones.
	typ := resourceType
	if typ == "" {
		if ts := params["_type"]; len(ts) > 0 {
			for _, v := range ts {
				for _, t := range strings.Split(v, ",") {
					t = strings.TrimSpace(t)
					if t == "" {
						continue
					}
					if !r.knownType(t) {
						return nil, invalid("_type: unknown resource type %q", t)
					}
					req.Query.Types = append(req.Query.Types, t)
				}
			}
			req.Used["_type"] = ts
			if len(req.Query.Types) == 1 {
				typ = req.Query.Types[0]
			}
		}
	}

	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a deterministic query, whatever the map order
	summaryCount := false
	total := 0 // criteria values, for MaxTotalValues
	for _, key := range keys {
		vals := params[key]
		name, mod, _ := strings.Cut(key, ":")
		var err error
		switch name {
		case "_format", "_pretty", "_type":
			continue
		case "_count":
			err = r.parseCount(req, key, vals)
		case "_total":
			err = parseTotal(req, key, vals)
		case "_summary":
			err = parseSummary(req, key, vals)
			summaryCount = req.Summary == "count"
		case "_elements":
			if mod != "" {
				err = invalid("%s: no modifier allowed", key)
				break
			}
			for _, v := range vals {
				for _, e := range strings.Split(v, ",") {
					if e = strings.TrimSpace(e); e != "" {
						req.Elements = append(req.Elements, e)
					}
				}
			}
		case "_sort":
			err = r.parseSort(req, typ, key, vals)
		case "_include", "_revinclude":
			err = r.parseIncludes(req, typ, key, name, mod, vals)
		case "_contained", "_containedType", "_list", "_query", "_filter", "_score":
			err = ignore("parameter %s is not supported", key)
		default:
			used := false
			for _, v := range vals {
				if v == "" {
					continue
				}
				if total += len(splitEscaped(v, ',')); total > MaxTotalValues {
					return nil, invalid("the search has more than %d values in all; at most %d are allowed", MaxTotalValues, MaxTotalValues)
				}
				var cs []store.Clause
				cs, err = r.parseClause(ctx, typ, key, v, 0)
				if err != nil {
					break
				}
				req.Query.Where = append(req.Query.Where, cs...)
				used = true
			}
			if err == nil && !used {
				continue // only empty values: ignored, as the spec says
			}
		}
		if err == nil {
			req.Used[key] = vals
			continue
		}
		var ig *ignorable
		if errors.As(err, &ig) {
			if strict {
				return nil, invalid("%s", ig.msg)
			}
			req.Ignored = append(req.Ignored, key)
			delete(req.Used, key)
			continue
		}
		return nil, err
	}
	if summaryCount {
		req.Query.Count = 0
	}
	return req, nil
}

// ParseCondition parses the query of a conditional interaction
// (If-None-Exist, conditional update, conditional delete: "identifier=a|b&
// active=true") strictly: unknown parameters, result parameters (_count,
// _sort, _include…) and an empty condition are Invalid errors, since acting
// on a condition the server only partly understood could change the wrong
// resource. Query.Count is 2: enough to tell none, one and many apart.
func (r *Registry) ParseCondition(ctx context.Context, resourceType, rawQuery string) (*store.Query, error) {
	raw := strings.TrimPrefix(rawQuery, "?")
	if i := strings.IndexByte(raw, '?'); i >= 0 { // "Patient?identifier=…"
		raw = raw[i+1:]
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, invalid("malformed condition %q: %v", rawQuery, err)
	}
	empty := true
	for k, vs := range vals {
		switch name, _, _ := strings.Cut(k, ":"); name {
		case "_count", "_total", "_sort", "_summary", "_elements", "_include", "_revinclude", "_format", "_pretty", "_type":
			return nil, invalid("parameter %s is not allowed in a condition", k)
		}
		for _, v := range vs {
			if v != "" {
				empty = false
			}
		}
	}
	if empty {
		return nil, invalid("the condition is empty")
	}
	req, err := r.Parse(ctx, resourceType, vals, true)
	if err != nil {
		return nil, err
	}
	q := req.Query
	q.Count = 2
	return &q, nil
}

func (r *Registry) parseCount(req *Request, key string, vals []string) error {
	if key != "_count" || len(vals) != 1 {
		return invalid("_count must be given once, without modifier")
	}
	n, err := strconv.Atoi(vals[0])
	if err != nil || n < 0 {
		return invalid("_count: %q is not a non-negative integer", vals[0])
	}
	if n > MaxCount {
		return invalid("_count: %d is more than the maximum page size %d", n, MaxCount)
	}
	req.Query.Count = n
	return nil
}

func parseTotal(req *Request, key string, vals []string) error {
	if key != "_total" || len(vals) != 1 {
		return invalid("_total must be given once, without modifier")
	}
	switch vals[0] {
	case "none":
		req.Query.Total = store.TotalNone
	case "estimate":
		req.Query.Total = store.TotalEstimate
	case "accurate", "":
		req.Query.Total = store.TotalAccurate
	default:
		return invalid("_total: %q is not none, estimate or accurate", vals[0])
	}
	return nil
}

func parseSummary(req *Request, key string, vals []string) error {
	if key != "_summary" || len(vals) != 1 {
		return invalid("_summary must be given once, without modifier")
	}
	switch vals[0] {
	case "true", "text", "data", "count", "false":
		req.Summary = vals[0]
	default:
		return invalid("_summary: %q is not true, text, data, count or false", vals[0])
	}
	return nil
}

func (r *Registry) parseSort(req *Request, typ, key string, vals []string) error {
	if key != "_sort" {
		return invalid("%s: _sort takes no modifier", key)
	}
	for _, v := range vals {
		for _, k := range strings.Split(v, ",") {
			k = strings.TrimSpace(k)
			if k == "" {
				continue
			}
			desc := strings.HasPrefix(k, "-")
			code := strings.TrimPrefix(k, "-")
			p, ok := r.lookup(typ, code)
			if !ok {
				return ignore("_sort: unknown parameter %q%s", code, didYouMean(code, r.paramCodes(typ)))
			}
			if p.Type == store.Composite || p.Type == store.Special {
				return ignore("_sort: %s parameter %q cannot be sorted by", p.Type, code)
			}
			req.Query.Sort = append(req.Query.Sort, store.SortKey{Param: code, Type: p.Type, Desc: desc})
		}
	}
	return nil
}

// parseIncludes parses _include and _revinclude values
// "SourceType:param[:TargetType]" (or "*").
func (r *Registry) parseIncludes(req *Request, typ, key, name, mod string, vals []string) error {
	iterate := false
	switch mod {
	case "":
	case "iterate", "recurse":
		iterate = true
	default:
		return ignore("%s: unknown modifier %q%s", key, mod, didYouMean(mod, []string{"iterate"}))
	}
	// A value lenient handling may ignore is skipped, not the values after
	// it: _include=CarePlan:nonsense&_include=CarePlan:condition still
	// brings the conditions.
	var skipped error
	for _, v := range vals {
		if v == "" {
			continue
		}
		inc := Include{Iterate: iterate}
		if v == "*" {
			inc.SourceType, inc.Param = typ, "*"
			if name == "_revinclude" {
				inc.SourceType = "" // any referring type
			}
		} else {
			parts := strings.Split(v, ":")
			if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
				return invalid("%s: %q is not SourceType:parameter[:TargetType]", key, v)
			}
			inc.SourceType, inc.Param = parts[0], parts[1]
			if len(parts) == 3 {
				inc.TargetType = parts[2]
				if !r.knownType(inc.TargetType) {
					if skipped == nil {
						skipped = ignore("%s: unknown target type %q", key, inc.TargetType)
					}
					continue
				}
			}
			if !r.knownType(inc.SourceType) {
				if skipped == nil {
					skipped = ignore("%s: unknown resource type %q", key, inc.SourceType)
				}
				continue
			}
			if inc.Param != "*" {
				p, ok := r.lookup(inc.SourceType, inc.Param)
				if !ok || p.Type != store.Reference {
					if skipped == nil {
						skipped = ignore("%s: %s has no reference parameter %q", key, inc.SourceType, inc.Param)
					}
					continue
				}
				if inc.TargetType != "" && len(p.Target) > 0 && !contains(p.Target, inc.TargetType) {
					return invalid("%s: %s.%s cannot refer to %s", key, inc.SourceType, inc.Param, inc.TargetType)
				}
			}
			// A plain _include starts from the matches, so it must name
			// the searched type; :iterate may start from included ones.
			if name == "_include" && !iterate && typ != "" && inc.SourceType != typ {
				return invalid("%s: %q does not start from %s (use _include:iterate)", key, v, typ)
			}
		}
		if name == "_include" {
			req.Includes = append(req.Includes, inc)
		} else {
			req.RevIncludes = append(req.RevIncludes, inc)
		}
	}
	return skipped
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseClause parses one key=value (a comma-separated value ORed) of
// resource type typ ("" for Resource-level parameters only). depth counts
// chain and _has nesting.
func (r *Registry) parseClause(ctx context.Context, typ, key, value string, depth int) ([]store.Clause, error) {
	if depth > maxChain {
		return nil, invalid("%s: chains nest at most %d deep", key, maxChain)
	}
	if strings.HasPrefix(key, "_has:") {
		return r.parseHas(ctx, typ, key, value, depth)
	}
	// A chain: "subject:Patient.name:exact" → the reference parameter
	// "subject:Patient" and the rest "name:exact" on the target type.
	head, rest, chained := strings.Cut(key, ".")
	name, mod, _ := strings.Cut(head, ":")
	if !chained { // a chain's values are counted where it ends
		limit := MaxValues
		if name == "_id" {
			limit = MaxIDValues
		}
		if n := len(splitEscaped(value, ',')); n > limit {
			return nil, invalid("%s: %d values; at most %d are allowed per parameter", key, n, limit)
		}
	}
	if isTextParam(name) && !chained {
		// Not in the registry: they have no expression (see text.go).
		return parseText(name, key, mod, value)
	}
	p, ok := r.lookup(typ, name)
	if !ok {
		if typ == "" {
			return nil, ignore("unknown parameter %q for a system search%s", name, didYouMean(name, r.paramCodes(typ)))
		}
		return nil, ignore("unknown parameter %q for %s%s", name, typ, didYouMean(name, r.paramCodes(typ)))
	}
	if chained {
		return r.parseChain(ctx, p, key, mod, rest, value, depth)
	}
	if mod == "missing" {
		b, err := strconv.ParseBool(value)
		if err != nil || (value != "true" && value != "false") {
			return nil, invalid("%s: %q is not true or false", key, value)
		}
		c := store.Cond{Param: name, Type: p.Type, Missing: &b}
		if p.Type == store.Composite {
			// Present means having a complete value: its first component's
			// entries exist only for those (see Extract).
			if len(p.Components) == 0 {
				return nil, ignore("%s: composite %s has no components", key, p.Code)
			}
			c.Components = []store.Cond{{Param: store.CompositeParam(p.Code, 0), Type: p.Components[0].Type}}
		}
		return []store.Clause{{Any: []store.Cond{c}}}, nil
	}
	if err := r.checkModifier(p, key, mod); err != nil {
		return nil, err
	}
	if mod == "not-in" && p.Type == store.Token {
		// Not in the value set: no code of it, each its own :not clause
		// (ANDed). One value set per value: "a,b" would be an OR of
		// negations, which clauses cannot say.
		if len(splitEscaped(value, ',')) != 1 {
			return nil, invalid("%s: give one value set per parameter", key)
		}
		conds, err := r.expandToken(ctx, p, key, mod, value)
		if err != nil {
			return nil, err
		}
		out := make([]store.Clause, len(conds))
		for i, c := range conds {
			c.Not = true
			out[i] = store.Clause{Any: []store.Cond{c}}
		}
		return out, nil
	}
	var c store.Clause
	for _, part := range splitEscaped(value, ',') {
		if part == "" {
			continue
		}
		conds, err := r.parseValue(ctx, p, key, mod, part)
		if err != nil {
			return nil, err
		}
		c.Any = append(c.Any, conds...)
	}
	if len(c.Any) == 0 {
		return nil, invalid("%s: no value", key)
	}
	return []store.Clause{c}, nil
}

// checkModifier rejects a modifier the parameter's type does not take.
// Modifiers the spec defines but this server does not implement are
// ignorable (lenient handling drops the parameter and says so).
func (r *Registry) checkModifier(p *Param, key, mod string) error {
	if mod == "" {
		return nil
	}
	if p.Type == store.Token {
		switch mod {
		case "in", "not-in", "above", "below":
			if r.term == nil {
				return ignore("%s: modifier :%s needs a terminology source, and this server has none", key, mod)
			}
			return nil
		}
	}
	known := map[store.ParamType][]string{
		store.Token:     {"not", "text", "of-type"},
		store.String:    {"exact", "contains"},
		store.Reference: {"identifier"},
		store.URI:       {"above", "below"},
	}
	if contains(known[p.Type], mod) {
		return nil
	}
	if p.Type == store.Reference && len(mod) > 0 && mod[0] >= 'A' && mod[0] <= 'Z' {
		if len(p.Target) > 0 && !contains(p.Target, mod) {
			return invalid("%s: %s cannot refer to %s", key, p.Code, mod)
		}
		return nil
	}
	switch mod {
	case "exact", "contains", "text", "not", "above", "below", "in", "not-in", "of-type", "identifier", "type", "missing":
		return ignore("%s: modifier :%s is not supported for %s parameter %s", key, mod, p.Type, p.Code)
	}
	return ignore("%s: unknown modifier :%s%s", key, mod, didYouMean(mod, append(known[p.Type], "missing")))
}

// parseChain parses "ref[:Type].rest=value": the referenced resource must
// match rest=value. With no :Type and several targets, the chain is tried on
// every target type that has the chained parameter (ORed).
func (r *Registry) parseChain(ctx context.Context, p *Param, key, mod, rest, value string, depth int) ([]store.Clause, error) {
	if p.Type != store.Reference {
		return nil, invalid("%s: %s is not a reference parameter and cannot be chained", key, p.Code)
	}
	var types []string
	switch {
	case mod != "" && mod[0] >= 'A' && mod[0] <= 'Z':
		if len(p.Target) > 0 && !contains(p.Target, mod) {
			return nil, invalid("%s: %s cannot refer to %s", key, p.Code, mod)
		}
		types = []string{mod}
	case mod != "":
		return nil, invalid("%s: modifier :%s cannot be chained", key, mod)
	default:
		types = p.Target
	}
	chainName, _, _ := strings.Cut(strings.SplitN(rest, ".", 2)[0], ":")
	var c store.Clause
	var firstErr error
	for _, t := range types {
		if !r.knownType(t) {
			continue
		}
		if _, ok := r.lookup(t, chainName); !ok && !strings.HasPrefix(rest, "_has:") {
			continue
		}
		inner, err := r.parseClause(ctx, t, rest, value, depth+1)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		c.Any = append(c.Any, store.Cond{Param: p.Code, Type: store.Reference, RefType: t,
			Chain: &store.Chain{Type: t, Where: inner}})
	}
	if len(c.Any) == 0 {
		if firstErr != nil {
			return nil, firstErr
		}
		return nil, ignore("%s: no target type of %s has a parameter %q", key, p.Code, chainName)
	}
	return []store.Clause{c}, nil
}

// parseHas parses "_has:Type:param:rest=value": some resource of Type whose
// reference parameter param points here matches rest=value.
func (r *Registry) parseHas(ctx context.Context, typ, key, value string, depth int) ([]store.Clause, error) {
	parts := strings.SplitN(key, ":", 4)
	if len(parts) != 4 || parts[1] == "" || parts[2] == "" || parts[3] == "" {
		return nil, invalid("%s: _has must be _has:Type:parameter:parameter", key)
	}
	src, param, rest := parts[1], parts[2], parts[3]
	if !r.knownType(src) {
		return nil, ignore("%s: unknown resource type %q", key, src)
	}
	p, ok := r.lookup(src, param)
	if !ok || p.Type != store.Reference {
		return nil, ignore("%s: %s has no reference parameter %q", key, src, param)
	}
	if typ != "" && len(p.Target) > 0 && !contains(p.Target, typ) {
		return nil, invalid("%s: %s.%s cannot refer to %s", key, src, param, typ)
	}
	inner, err := r.parseClause(ctx, src, rest, value, depth+1)
	if err != nil {
		return nil, err
	}
	return []store.Clause{{Any: []store.Cond{{Param: "_has", Type: store.Special,
		Has: &store.Has{Type: src, Param: param, Where: inner}}}}}, nil
}

// parseValue parses one (comma-free) value of parameter p into conditions
// (ORed; usually one).
func (r *Registry) parseValue(ctx context.Context, p *Param, key, mod, raw string) ([]store.Cond, error) {
	base := store.Cond{Param: p.Code, Type: p.Type}
	switch p.Type {
	case store.Token:
		switch mod {
		case "in", "above", "below":
			return r.expandToken(ctx, p, key, mod, raw)
		}
		c := base
		c.Not = mod == "not"
		if mod == "text" {
			c.TextMatch = normalize(unescape(raw))
			if c.TextMatch == "" {
				return nil, invalid("%s: empty text", key)
			}
			return []store.Cond{c}, nil
		}
		parts := splitEscaped(raw, '|')
		if mod == "of-type" {
			// Identifier type and value: matched against the entries
			// Extract keeps under "<code>:of-type".
			if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
				return nil, invalid("%s: %q is not system|code|value", key, raw)
			}
			c.Param = p.Code + ofType
			c.System, c.SystemSet, c.Code = unescape(parts[0]), true, unescape(parts[1])+"|"+unescape(parts[2])
			return []store.Cond{c}, nil
		}
		switch len(parts) {
		case 1:
			c.Code = unescape(parts[0])
		case 2:
			c.System, c.SystemSet, c.Code = unescape(parts[0]), true, unescape(parts[1])
		default:
			return nil, invalid("%s: %q has more than one unescaped |", key, raw)
		}
		return []store.Cond{c}, nil

	case store.String:
		c := base
		v := unescape(raw)
		switch mod {
		case "exact":
			c.StringMatch, c.Value = store.StringExact, v
		case "contains":
			c.StringMatch, c.Value = store.StringContains, normalize(v)
		default:
			c.StringMatch, c.Value = store.StringPrefix, normalize(v)
		}
		return []store.Cond{c}, nil

	case store.URI:
		c := base
		c.Value = unescape(raw)
		switch mod {
		case "above":
			c.URIMatch = store.URIAbove
		case "below":
			c.URIMatch = store.URIBelow
		}
		return []store.Cond{c}, nil

	case store.Date:
		prefix, v := splitPrefix(raw)
		lo, hi, ok := dateRange(unescape(v))
		if !ok {
			return nil, invalid("%s: %q is not a date", key, raw)
		}
		c := base
		c.Prefix, c.Low, c.High = prefix, lo, hi
		if prefix == store.Ap {
			// Approximately: widen by 10% of the distance between the
			// value and now (R4 search.html suggests this), at least the
			// value's own precision (already in [Low,High)).
			now := r.now().UTC()
			gap := now.Sub(lo)
			if gap < 0 {
				gap = -gap
			}
			w := gap / 10
			c.Low, c.High = lo.Add(-w), hi.Add(w)
		}
		return []store.Cond{c}, nil

	case store.Number, store.Quantity:
		prefix, v := splitPrefix(raw)
		parts := splitEscaped(v, '|')
		if p.Type == store.Number && len(parts) != 1 || len(parts) != 1 && len(parts) != 3 {
			return nil, invalid("%s: %q is not a %s", key, raw, p.Type)
		}
		d, ok := parseDecimal(parts[0])
		if !ok {
			return nil, invalid("%s: %q is not a number", key, raw)
		}
		c := base
		c.Prefix, c.Num, c.NumLow, c.NumHigh = prefix, d.v, d.lo, d.hi
		if prefix == store.Ap {
			// Approximately: within 10% of the value (R4 search.html).
			w := d.v / 10
			if w < 0 {
				w = -w
			}
			c.NumLow, c.NumHigh = min(d.lo, d.v-w), max(d.hi, d.v+w)
		}
		if len(parts) == 3 {
			c.System, c.Code = unescape(parts[1]), unescape(parts[2])
			c.SystemSet = c.System != ""
			// A UCUM unit with a canonical form is compared in that form,
			// so 5.4|…|mg finds 5400 ug (Extract stores the same form).
			if canon, v, lo, hi, ok := canonicalQuantity(c.System, c.Code, c.Num, c.NumLow, c.NumHigh); ok && p.Type == store.Quantity {
				c.Canonical, c.Code, c.Num, c.NumLow, c.NumHigh = true, canon, v, lo, hi
				c.System, c.SystemSet = "", false
			}
		}
		return []store.Cond{c}, nil

	case store.Reference:
		return r.parseReference(p, key, mod, raw)

	case store.Composite:
		return r.parseComposite(ctx, p, key, raw)
	}
	return nil, ignore("%s: %s parameters are not supported", key, p.Type)
}

// parseComposite parses a composite value "a$b" (R4 search.html#composite):
// one part per component, each parsed as a value of the component's type
// (prefixes and system|code included), all to hold within one composite
// value. A part that parses to several alternatives (a reference that may
// be local or absolute) is refused rather than silently widened.
func (r *Registry) parseComposite(ctx context.Context, p *Param, key, raw string) ([]store.Cond, error) {
	if len(p.Components) == 0 {
		return nil, ignore("%s: composite %s has no components", key, p.Code)
	}
	parts := splitEscaped(raw, '$')
	if len(parts) != len(p.Components) {
		return nil, invalid("%s: %q needs %d $-separated parts", key, raw, len(p.Components))
	}
	c := store.Cond{Param: p.Code, Type: store.Composite}
	for i, part := range parts {
		comp := &p.Components[i]
		if comp.Type == store.Composite || comp.Type == store.Special {
			return nil, ignore("%s: component %d of type %s is not supported", key, i, comp.Type)
		}
		cp := &Param{Code: store.CompositeParam(p.Code, i), Type: comp.Type}
		if part == "" {
			return nil, invalid("%s: %q has an empty part", key, raw)
		}
		conds, err := r.parseValue(ctx, cp, key, "", part)
		if err != nil {
			return nil, err
		}
		if len(conds) != 1 {
			return nil, invalid("%s: part %q is ambiguous", key, part)
		}
		c.Components = append(c.Components, conds[0])
	}
	return []store.Cond{c}, nil
}

// parseReference parses a reference value: "Type/id", "id" (with :Type or a
// single target), an absolute URL (local when under our base URL), or with
// :identifier a token.
func (r *Registry) parseReference(p *Param, key, mod, raw string) ([]store.Cond, error) {
	c := store.Cond{Param: p.Code, Type: store.Reference}
	if mod == "identifier" {
		parts := splitEscaped(raw, '|')
		switch len(parts) {
		case 1:
			c.Code = unescape(parts[0])
		case 2:
			c.System, c.SystemSet, c.Code = unescape(parts[0]), true, unescape(parts[1])
		default:
			return nil, invalid("%s: %q has more than one unescaped |", key, raw)
		}
		c.Identifier = true
		conds := []store.Cond{c}
		// R4 defines :identifier on Reference.identifier only, but most
		// writers record a plan's subject as a bare "Patient/123". An
		// ambulance crew asking by NHS number must still find that plan, so
		// the identifier is also matched on the referenced resource itself
		// (as subject:Patient.identifier=… would), through the index.
		for _, t := range p.Target {
			ip, ok := r.lookup(t, "identifier")
			if !ok || !r.knownType(t) || ip.Type != store.Token {
				continue
			}
			idc := store.Cond{Param: ip.Code, Type: store.Token, System: c.System, SystemSet: c.SystemSet, Code: c.Code}
			conds = append(conds, store.Cond{Param: p.Code, Type: store.Reference, RefType: t,
				Chain: &store.Chain{Type: t, Where: []store.Clause{{Any: []store.Cond{idc}}}, OwnIdentifier: true}})
		}
		return conds, nil
	}
	v := unescape(raw)
	typed := mod != "" && mod[0] >= 'A' && mod[0] <= 'Z'
	if strings.Contains(v, ":") {
		// Absolute. Under our base it is also a local reference; a
		// canonical (uri-valued) reference is stored by URL, so match both.
		conds := []store.Cond{}
		if t, id, ok := localRef(r.baseURL, v); ok {
			lc := c
			lc.RefType, lc.RefID = t, id
			conds = append(conds, lc)
		}
		uc := c
		uc.URL = stripVersion(v)
		return append(conds, uc), nil
	}
	if t, id, ok := localRef("", v); ok {
		if typed && t != mod {
			return nil, invalid("%s: %q is not a %s reference", key, raw, mod)
		}
		if len(p.Target) > 0 && !contains(p.Target, t) {
			return nil, invalid("%s: %s cannot refer to %s", key, p.Code, t)
		}
		c.RefType, c.RefID = t, id
		return []store.Cond{c}, nil
	}
	if strings.Contains(v, "/") || v == "" {
		return nil, invalid("%s: %q is not a reference", key, raw)
	}
	c.RefID = v
	switch {
	case typed:
		c.RefType = mod
	case len(p.Target) == 1:
		c.RefType = p.Target[0]
	}
	return []store.Cond{c}, nil
}

// splitPrefix splits an ordered value into its prefix (R4
// search.html#prefix) and the rest; a value without one is eq. A prefix is
// only taken when a digit (or sign) follows, so no value is misread.
func splitPrefix(v string) (store.Prefix, string) {
	if len(v) < 3 {
		return store.Eq, v
	}
	c := v[2]
	if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.') {
		return store.Eq, v
	}
	switch v[:2] {
	case "eq":
		return store.Eq, v[2:]
	case "ne":
		return store.Ne, v[2:]
	case "gt":
		return store.Gt, v[2:]
	case "lt":
		return store.Lt, v[2:]
	case "ge":
		return store.Ge, v[2:]
	case "le":
		return store.Le, v[2:]
	case "sa":
		return store.Sa, v[2:]
	case "eb":
		return store.Eb, v[2:]
	case "ap":
		return store.Ap, v[2:]
	}
	return store.Eq, v
}
