package search

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"ucp/fhir/fhirpath"
	"ucp/fhir/outcome"
	"ucp/fhir/search/internal/union"
	"ucp/store"
)

// parametersJSON is the generated data file (see internal/gen): the R4 base
// SearchParameters of the served types and the Patient compartment.
//
//go:embed parameters.json
var parametersJSON []byte

// The page size rules of Parse (_count).
const (
	DefaultCount = 20
	MaxCount     = 1000
)

// resourceBase is the pseudo-type under which the parameters every resource
// has (_id, _lastUpdated, _tag, _profile, _security, _source) are kept.
const resourceBase = "Resource"

// Param is a search parameter as it applies to one resource type. A
// SearchParameter with several base types gives one Param per base that
// share Code, URL, Type, Base and Target; Expression and Description are the
// parts for that one type (the R4 expression "AllergyIntolerance.code |
// Condition.code" is "Condition.code" for Condition), so that extraction
// evaluates only what can match.
type Param struct {
	Code        string
	URL         string
	Description string
	Expression  string
	Type        store.ParamType
	Base        []string // every base type of the definition
	Target      []string // reference targets; empty means any type
	// Components are the parts of a composite parameter, in order (R4
	// search.html#composite): each value of Expression is one composite
	// value, and each component's Expression is evaluated on it.
	Components []Component

	resourceType string // the base type this Param applies to ("Resource" for common ones)
	expr         *fhirpath.Expression
	custom       bool // registered at run time, not a base parameter
}

// Component is one part of a composite parameter.
type Component struct {
	Definition string          // url of the parameter that gives the part its type
	Type       store.ParamType // the part's type
	Expression string          // relative to one value of the composite

	expr *fhirpath.Expression
}

// ResourceType returns the type this Param applies to ("Resource" for the
// parameters every type has).
func (p *Param) ResourceType() string { return p.resourceType }

// Custom reports whether p was added by Register rather than being an R4
// base parameter.
func (p *Param) Custom() bool { return p.custom }

// Registry holds the search parameters by resource type. It is safe for
// concurrent use: Register may run while requests are parsed and resources
// extracted.
type Registry struct {
	mu          sync.RWMutex
	byType      map[string]map[string]*Param // resource type (or "Resource") → code → param
	types       map[string]bool              // the served resource types
	order       map[string][]*Param          // byType's params sorted by code, for Extract
	compartment map[string][]string          // resource type → Patient compartment params
	baseURL     string                       // our own base URL, "" when unknown; no trailing slash
	now         func() time.Time             // the clock of the "ap" prefix
	term        Terminology                  // for :in, :not-in, token :above/:below; nil: unsupported
}

// genParam is one record of parameters.json.
type genParam struct {
	Code        string   `json:"code"`
	URL         string   `json:"url"`
	Type        string   `json:"type"`
	Base        string   `json:"base"`
	Bases       []string `json:"bases"`
	Expression  string   `json:"expr"`
	Target      []string `json:"target"`
	Description string   `json:"desc"`
	Components  []struct {
		Definition string `json:"def"`
		Type       string `json:"type"`
		Expression string `json:"expr"`
	} `json:"component"`
}

// NewRegistry returns a registry of the R4 base parameters of the served
// resource types plus the Resource-level ones. It fails if any expression
// does not compile: a parameter that silently extracts nothing would make
// searches quietly wrong.
func NewRegistry() (*Registry, error) {
	var data struct {
		Types              []string            `json:"types"`
		Params             []genParam          `json:"params"`
		PatientCompartment map[string][]string `json:"patientCompartment"`
	}
	if err := json.Unmarshal(parametersJSON, &data); err != nil {
		return nil, fmt.Errorf("search: parameters.json: %w", err)
	}
	r := &Registry{
		byType:      map[string]map[string]*Param{},
		order:       map[string][]*Param{},
		compartment: data.PatientCompartment,
		types:       map[string]bool{},
		now:         time.Now,
	}
	for _, t := range data.Types {
		r.types[t] = true
	}
	var errs []string
	for _, g := range data.Params {
		bases := g.Bases
		if len(bases) == 0 {
			bases = []string{g.Base}
		}
		p := &Param{
			Code: g.Code, URL: g.URL, Description: g.Description, Expression: g.Expression,
			Type: store.ParamType(g.Type), Base: bases, Target: g.Target, resourceType: g.Base,
		}
		expr, err := fhirpath.Compile(g.Expression)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s.%s (%s): %v", g.Base, g.Code, g.Expression, err))
			continue
		}
		p.expr = expr
		for _, gc := range g.Components {
			ce, err := fhirpath.Compile(gc.Expression)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s.%s component (%s): %v", g.Base, g.Code, gc.Expression, err))
				continue
			}
			p.Components = append(p.Components, Component{Definition: gc.Definition, Type: store.ParamType(gc.Type),
				Expression: gc.Expression, expr: ce})
		}
		r.add(p)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("search: base parameters do not compile: %s", strings.Join(errs, "; "))
	}
	return r, nil
}

// SetBaseURL tells the registry the server's own base URL
// ("https://ucp.example.org/fhir"), so that absolute references to it are
// indexed and searched as local ones. Whoever builds the registry calls it,
// before the registry is used: the servers that use a registry only read it
// (BaseURL).
func (r *Registry) SetBaseURL(base string) {
	r.mu.Lock()
	r.baseURL = strings.TrimRight(base, "/")
	r.mu.Unlock()
}

// BaseURL returns the base URL given to SetBaseURL, without a trailing
// slash; "" when none was.
func (r *Registry) BaseURL() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.baseURL
}

func (r *Registry) add(p *Param) {
	m := r.byType[p.resourceType]
	if m == nil {
		m = map[string]*Param{}
		r.byType[p.resourceType] = m
	}
	m[p.Code] = p
	r.reorder(p.resourceType)
}

// reorder rebuilds the sorted parameter list of one type: extraction runs in
// code order so that a resource's entries are the same list on every write.
func (r *Registry) reorder(typ string) {
	ps := make([]*Param, 0, len(r.byType[typ]))
	for _, p := range r.byType[typ] {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Code < ps[j].Code })
	r.order[typ] = ps
}

// Lookup returns the parameter code of resourceType, including the
// Resource-level ones; resourceType "" looks only at those.
func (r *Registry) Lookup(resourceType, code string) (*Param, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lookup(resourceType, code)
}

func (r *Registry) lookup(resourceType, code string) (*Param, bool) {
	if p, ok := r.byType[resourceType][code]; ok && resourceType != "" {
		return p, true
	}
	p, ok := r.byType[resourceBase][code]
	return p, ok
}

// Params returns the parameters of resourceType, Resource-level ones
// included, sorted by Code (for the CapabilityStatement).
func (r *Registry) Params(resourceType string) []*Param {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var ps []*Param
	for code, p := range r.byType[resourceBase] {
		if _, over := r.byType[resourceType][code]; !over || resourceType == resourceBase {
			ps = append(ps, p)
		}
	}
	if resourceType != resourceBase {
		for _, p := range r.byType[resourceType] {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Code < ps[j].Code })
	return ps
}

// Types returns the searchable resource types (the served ones and any
// base of a custom parameter), sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ts := make([]string, 0, len(r.types))
	for t := range r.types {
		ts = append(ts, t)
	}
	for t := range r.byType {
		if t != resourceBase && !r.types[t] {
			ts = append(ts, t)
		}
	}
	sort.Strings(ts)
	return ts
}

// knownType reports whether t is a searchable resource type.
func (r *Registry) knownType(t string) bool {
	if r.types[t] {
		return true
	}
	_, ok := r.byType[t]
	return ok && t != resourceBase
}

var codeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_\-]*$`)

// Register adds (or replaces) a custom SearchParameter resource. It checks
// that the parameter has a url, a valid code, a supported type, base types
// and an expression that compiles, and that its code does not clash with a
// parameter of another url on one of its bases (base parameters cannot be
// replaced). Errors are *outcome.Error: Invalid for a malformed definition,
// Unsupported for composite and special types, Conflict for a clash.
//
// Resources already stored are not indexed for the new parameter until they
// are re-extracted ($reindex); Param.Custom tells a caller which parameters
// may be incomplete until then.
func (r *Registry) Register(sp map[string]any) error {
	if rt, _ := sp["resourceType"].(string); rt != "SearchParameter" {
		return outcome.Errorf(outcome.Invalid, "not a SearchParameter (resourceType %q)", rt)
	}
	url, _ := sp["url"].(string)
	code, _ := sp["code"].(string)
	typ, _ := sp["type"].(string)
	exprStr, _ := sp["expression"].(string)
	desc, _ := sp["description"].(string)
	if url == "" {
		return &outcome.Error{Kind: outcome.Invalid, Message: "SearchParameter.url is required", Expr: []string{"SearchParameter.url"}}
	}
	if !codeRE.MatchString(code) {
		return &outcome.Error{Kind: outcome.Invalid, Message: fmt.Sprintf("SearchParameter.code %q is not a valid parameter name", code), Expr: []string{"SearchParameter.code"}}
	}
	switch store.ParamType(typ) {
	case store.Token, store.String, store.Date, store.Reference, store.Number, store.Quantity, store.URI:
	case store.Composite, store.Special:
		return &outcome.Error{Kind: outcome.Unsupported, Message: fmt.Sprintf("SearchParameter type %q is not supported", typ), Expr: []string{"SearchParameter.type"}}
	default:
		return &outcome.Error{Kind: outcome.Invalid, Message: fmt.Sprintf("SearchParameter.type %q is not a search parameter type", typ), Expr: []string{"SearchParameter.type"}}
	}
	bases := stringList(sp["base"])
	if len(bases) == 0 {
		return &outcome.Error{Kind: outcome.Invalid, Message: "SearchParameter.base is required", Expr: []string{"SearchParameter.base"}}
	}
	if exprStr == "" {
		return &outcome.Error{Kind: outcome.Invalid, Message: "SearchParameter.expression is required", Expr: []string{"SearchParameter.expression"}}
	}
	targets := stringList(sp["target"])

	r.mu.Lock()
	defer r.mu.Unlock()
	var ps []*Param
	for _, b := range bases {
		if !codeRE.MatchString(b) || b[0] < 'A' || b[0] > 'Z' {
			return &outcome.Error{Kind: outcome.Invalid, Message: fmt.Sprintf("SearchParameter.base %q is not a resource type", b), Expr: []string{"SearchParameter.base"}}
		}
		if old, ok := r.byType[resourceBase][code]; ok && b != resourceBase && old.URL != url {
			return outcome.Errorf(outcome.Conflict, "search parameter %q is defined for every resource by %s", code, old.URL)
		}
		if old, ok := r.byType[b][code]; ok && (old.URL != url || !old.custom) {
			return outcome.Errorf(outcome.Conflict, "search parameter %q of %s is already defined by %s", code, b, old.URL)
		}
		part := ExpressionFor(exprStr, b)
		if part == "" {
			return &outcome.Error{Kind: outcome.Invalid, Message: fmt.Sprintf("SearchParameter.expression has no part for base %s", b), Expr: []string{"SearchParameter.expression"}}
		}
		if b == resourceBase {
			// As in the generated data: Resource.meta.tag would not match a
			// Patient by type name; meta.tag navigates from any root.
			part = strings.ReplaceAll(part, "Resource.", "")
		}
		expr, err := fhirpath.Compile(part)
		if err != nil {
			return &outcome.Error{Kind: outcome.Invalid, Message: fmt.Sprintf("SearchParameter.expression does not compile: %v", err), Expr: []string{"SearchParameter.expression"}, Err: err}
		}
		ps = append(ps, &Param{
			Code: code, URL: url, Description: desc, Expression: part, Type: store.ParamType(typ),
			Base: bases, Target: targets, resourceType: b, expr: expr, custom: true,
		})
	}
	// A re-registered url may have dropped a base: remove its old entries.
	r.unregister(url)
	for _, p := range ps {
		r.add(p)
	}
	return nil
}

// Unregister removes the custom parameter with this url, reporting whether
// there was one. Base parameters cannot be removed.
func (r *Registry) Unregister(url string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unregister(url)
}

func (r *Registry) unregister(url string) bool {
	found := false
	for typ, m := range r.byType {
		for code, p := range m {
			if p.custom && p.URL == url {
				delete(m, code)
				r.reorder(typ)
				found = true
			}
		}
	}
	return found
}

func stringList(v any) []string {
	arr, _ := v.([]any)
	var out []string
	for _, x := range arr {
		if s, ok := x.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ExpressionFor returns the alternatives of a union expression that apply to
// base: for "AllergyIntolerance.code | Condition.code" and Condition it is
// "Condition.code". Alternatives that do not start with a type name apply to
// every base. It returns "" when no alternative applies.
func ExpressionFor(expr, base string) string {
	var keep []string
	for _, alt := range union.Split(expr) {
		head := strings.TrimLeft(alt, "( ")
		i := strings.IndexAny(head, ".( ")
		if i < 0 {
			i = len(head)
		}
		name := head[:i]
		if name == base || name == "" || name[0] < 'A' || name[0] > 'Z' {
			keep = append(keep, alt)
		}
	}
	return strings.Join(keep, " | ")
}
