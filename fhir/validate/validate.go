package validate

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"ucp/fhir/fhirpath"
	"ucp/fhir/model"
	"ucp/fhir/resource"
)

//go:generate go run ./internal/gen -core ../../../shared/fhir-r4-core -o zz_generated.go

// Issue severities (OperationOutcome.issue.severity).
const (
	SeverityError       = "error"
	SeverityWarning     = "warning"
	SeverityInformation = "information"
)

// Issue codes used by the validator (OperationOutcome.issue.code, from
// http://hl7.org/fhir/R4/valueset-issue-type.html).
const (
	CodeStructure   = "structure"    // JSON shape: unknown element, array vs single, empty value
	CodeRequired    = "required"     // a required element is missing
	CodeValue       = "value"        // a primitive's lexical form or range is wrong
	CodeInvariant   = "invariant"    // a FHIRPath constraint failed
	CodeCodeInvalid = "code-invalid" // a code is not in its bound value set
	CodeExtension   = "extension"    // an unknown modifier extension
	CodeProcessing  = "processing"   // the validator could not do what was asked
	CodeNotFound    = "not-found"    // a profile is unknown
)

// Issue is one finding, shaped like an OperationOutcome.issue.
type Issue struct {
	Severity   string // "error", "warning" or "information"
	Code       string // OperationOutcome issue type ("structure", "invariant" …)
	Expression string // FHIRPath location of the element ("Patient.name[0].given[1]")
	Message    string
}

func (i Issue) String() string {
	return i.Severity + " " + i.Code + " @ " + i.Expression + ": " + i.Message
}

// HasErrors reports whether any issue has severity error (or fatal).
func HasErrors(issues []Issue) bool {
	for _, i := range issues {
		if i.Severity == SeverityError || i.Severity == "fatal" {
			return true
		}
	}
	return false
}

// ProfileSource finds StructureDefinitions by canonical URL. Profile returns
// (nil, nil) when it knows no such profile. A version suffix ("url|1.2") may be
// passed; implementations may ignore it.
type ProfileSource interface {
	Profile(ctx context.Context, url string) (map[string]any, error)
}

// Options configure a Validator. The zero value validates the base R4
// structure only, knowing no modifier extensions and no value sets beyond the
// core required bindings.
type Options struct {
	// Profiles resolves meta.profile and explicitly requested profiles, and the
	// baseDefinition of derived profiles.
	Profiles ProfileSource
	// Terminology checks codes against value sets for profile bindings and for
	// memberOf() in invariants. When nil, only the core required bindings
	// generated into this package are known.
	Terminology Terminology
	// KnownModifierExtensions lists the modifierExtension URLs the server
	// understands; any other modifier extension is an error, because a
	// modifier changes the meaning of the data it is in and ignoring it would
	// misread the record.
	KnownModifierExtensions []string
	// Resolver resolves references for resolve() in invariants (see
	// fhirpath.Env.Resolver). It may be nil.
	Resolver func(ref string) (map[string]any, error)
	// SkipInvariants turns off FHIRPath invariant evaluation (base and
	// profile); structural checks still run.
	SkipInvariants bool
}

// Validator checks resources against the base R4 structure and against
// profiles. It is safe for concurrent use; compiled profiles are cached.
type Validator struct {
	opts     Options
	modExt   map[string]bool
	memberOf func(fhirpath.Item, string) (bool, error)
	profiles sync.Map // cache key → *profile
	rules    sync.Map // *model.TypeInfo → *typeRules
}

// New returns a Validator with the given options.
func New(opts Options) *Validator {
	v := &Validator{opts: opts, modExt: map[string]bool{}, memberOf: memberOf(coreTerminology{})}
	if opts.Terminology != nil {
		v.memberOf = memberOf(opts.Terminology)
	}
	for _, u := range opts.KnownModifierExtensions {
		v.modExt[u] = true
	}
	return v
}

// Resource validates res against the base R4 structure with default options,
// with a Validator of its own: a caller that validates many resources keeps
// one Validator (New), whose per-type rules are worked out once.
func Resource(res map[string]any) []Issue {
	return New(Options{}).Validate(context.Background(), res)
}

// Validate checks res against the base R4 structure, then against each
// profile in its meta.profile and each profile given. A profile named in
// meta.profile that the ProfileSource does not know is a warning (the
// resource may claim conformance to profiles the server has never seen); a
// profile passed explicitly that is unknown is an error.
func (v *Validator) Validate(ctx context.Context, res map[string]any, profiles ...string) []Issue {
	w := &walker{v: v, ctx: ctx}
	w.resource(res, nil, res)
	seen := map[string]bool{}
	// Explicit profiles first, so that one also named in meta.profile is
	// still treated as explicitly requested (unknown = error).
	for _, p := range profiles {
		if !seen[p] {
			seen[p] = true
			w.profile(res, p, true)
		}
	}
	if meta, ok := res["meta"].(map[string]any); ok {
		ps, _ := meta["profile"].([]any)
		for _, p := range ps {
			if s, ok := p.(string); ok && s != "" && !seen[s] {
				seen[s] = true
				w.profile(res, s, false)
			}
		}
	}
	return dedupe(w.issues)
}

// dedupe drops exact repeats, which a profile and the profile it derives
// from can both report when a resource claims both.
func dedupe(issues []Issue) []Issue {
	if len(issues) < 2 {
		return issues
	}
	seen := make(map[Issue]bool, len(issues))
	out := issues[:0]
	for _, is := range issues {
		if !seen[is] {
			seen[is] = true
			out = append(out, is)
		}
	}
	return out
}

// walker collects the issues of one validation.
type walker struct {
	v      *Validator
	ctx    context.Context
	issues []Issue
	depth  int
	// contained counts the contained resources being walked: dom-6 (a
	// resource should have narrative) does not apply to them, since the
	// container's narrative covers them.
	contained int
}

func (w *walker) add(sev, code, loc, msg string) {
	w.issues = append(w.issues, Issue{Severity: sev, Code: code, Expression: loc, Message: msg})
}

func (w *walker) errorf(code string, loc *path, msg string) {
	w.add(SeverityError, code, loc.String(), msg)
}

func (w *walker) errorAt(code, loc, msg string) { w.add(SeverityError, code, loc, msg) }

// path is a FHIRPath location ("Patient.name[0].given[1]") kept as a chain
// of segments on the walker's stack and turned into a string only for an
// issue: most elements are valid, and building every location eagerly was a
// tenth of the validation time.
type path struct {
	parent *path
	name   string
	index  int // -1 for none
}

func (p *path) child(name string) *path { return &path{parent: p, name: name, index: -1} }

func (p *path) String() string {
	if p == nil {
		return ""
	}
	var segs []*path
	for q := p; q != nil; q = q.parent {
		segs = append(segs, q)
	}
	var b []byte
	for i := len(segs) - 1; i >= 0; i-- {
		if i != len(segs)-1 {
			b = append(b, '.')
		}
		b = append(b, segs[i].name...)
		if segs[i].index >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(segs[i].index), 10)
			b = append(b, ']')
		}
	}
	return string(b)
}

func (w *walker) newEnv(res, root map[string]any) *fhirpath.Env {
	return &fhirpath.Env{
		Resolver: w.v.opts.Resolver,
		MemberOf: w.v.memberOf,
		Vars: map[string]fhirpath.Collection{
			"resource":     {fhirpath.NewItem(res, "")},
			"rootResource": {fhirpath.NewItem(root, "")},
		},
	}
}

// resource validates a resource node: the top-level resource, a contained
// resource or a resource inside a Bundle entry or Parameters. root is the
// outermost resource (%rootResource).
func (w *walker) resource(res map[string]any, loc *path, root map[string]any) {
	rt, ok := res["resourceType"].(string)
	if loc == nil {
		name := rt
		if name == "" {
			name = "Resource"
		}
		loc = &path{name: name, index: -1}
	}
	if !ok || rt == "" {
		w.errorf(CodeStructure, loc, "resourceType is missing or not a string")
		return
	}
	t := model.Type(rt)
	if t == nil || t.Kind != model.KindResource || rt == "Resource" || rt == "DomainResource" {
		w.errorf(CodeStructure, loc, "unknown resourceType "+strconv.Quote(rt))
		return
	}
	if w.depth > 8 {
		w.errorf(CodeStructure, loc, "resources nested too deeply")
		return
	}
	w.depth++
	defer func() { w.depth-- }()
	env := w.newEnv(res, root)
	w.object(res, t, loc, env, true, true)
	if !w.v.opts.SkipInvariants {
		w.checkContainedReferenced(res, loc)
	}
}

// object validates the properties of a JSON object of type t.
//
// needChildren is false for a primitive's "_" sibling when the primitive has a
// value: then {"id": "x"} is a complete element (ele-1 is satisfied by the
// value).
func (w *walker) object(obj map[string]any, t *model.TypeInfo, loc *path, env *fhirpath.Env, isResource, needChildren bool) {
	rules := w.v.rulesFor(t)
	known := 0
	if isResource {
		known = 1 // resourceType
	}
	onlyID := true
	for i := range t.Elements {
		e := &t.Elements[i]
		er := &rules.elems[i]
		present := 0
		for j, jn := range e.JSONNames {
			val, hasVal := obj[jn]
			var ext any
			hasExt := false
			if xn := e.ExtNames[j]; xn != "" {
				ext, hasExt = obj[xn]
			}
			if !hasVal && !hasExt {
				continue
			}
			if hasVal {
				known++
			}
			if hasExt {
				known++
			}
			if e.Name != "id" {
				onlyID = false
			}
			present++
			if present > 1 {
				w.errorf(CodeStructure, loc.child(jn), "only one of "+e.Name+"[x] may be present")
				continue
			}
			w.element(e, er, e.Types[j], jn, val, hasVal, ext, hasExt, loc, env)
		}
		if present == 0 && e.Min > 0 {
			w.errorf(CodeRequired, loc.child(e.Name), "missing required element "+e.Name+" (minimum cardinality 1)")
		}
	}
	if known < len(obj) {
		var unknown []string
		for k := range obj {
			if isResource && k == "resourceType" {
				continue
			}
			if !knownProperty(t, k) {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		for _, k := range unknown {
			w.errorf(CodeStructure, loc.child(k), "unknown element "+strconv.Quote(k)+" for type "+t.Name)
		}
	}
	if !isResource && needChildren && onlyID {
		// ele-1: an element needs a value or children other than its id.
		w.errorf(CodeStructure, loc, "ele-1: element has neither a value nor children (empty object)")
	}
	if !w.v.opts.SkipInvariants {
		w.invariants(rules.invs, obj, t.Name, loc, env)
	}
}

// knownProperty reports whether k is an element (or the primitive extension
// sibling of one) of t.
func knownProperty(t *model.TypeInfo, k string) bool {
	if e, _ := t.ElementByJSONName(k); e != nil {
		return true
	}
	if len(k) > 1 && k[0] == '_' {
		if e, typ := t.ElementByJSONName(k[1:]); e != nil && model.IsPrimitive(typ) {
			return true
		}
	}
	return false
}

// element validates one present JSON property (and its "_" sibling) of
// element e with type typ.
func (w *walker) element(e *model.ElementInfo, er *elemRules, typ, jn string, val any, hasVal bool, ext any, hasExt bool,
	parent *path, env *fhirpath.Env) {
	prim := model.IsPrimitive(typ)
	here := path{parent: parent, name: jn, index: -1}
	loc := &here
	if !e.IsList() {
		if _, isArr := val.([]any); isArr {
			w.errorf(CodeStructure, loc, "element "+e.Name+" has maximum cardinality 1 but is an array")
			return
		}
		if _, isArr := ext.([]any); isArr {
			w.errorf(CodeStructure, loc, "primitive extension _"+jn+" must be an object, not an array")
			return
		}
		if prim {
			w.primitive(e, er, typ, val, hasVal, ext, hasExt, loc, env)
		} else {
			w.complex(er, typ, val, loc, env)
		}
		return
	}
	var arr, extArr []any
	if hasVal {
		a, ok := val.([]any)
		if !ok {
			w.errorf(CodeStructure, loc, "element "+e.Name+" repeats and must be an array")
			return
		}
		if len(a) == 0 {
			w.errorf(CodeStructure, loc, "empty array is not allowed")
			return
		}
		arr = a
	}
	if hasExt {
		a, ok := ext.([]any)
		if !ok {
			w.errorf(CodeStructure, loc, "primitive extension _"+jn+" must be an array parallel to "+jn)
			return
		}
		if len(a) == 0 {
			w.errorf(CodeStructure, loc, "empty array is not allowed")
			return
		}
		if hasVal && len(a) != len(arr) {
			w.errorf(CodeStructure, loc, "_"+jn+" must have as many items as "+jn)
			return
		}
		extArr = a
	}
	n := max(len(arr), len(extArr))
	for i := 0; i < n; i++ {
		item := path{parent: parent, name: jn, index: i}
		iloc := &item
		if prim {
			var v, x any
			if arr != nil {
				v = arr[i]
			}
			if extArr != nil {
				x = extArr[i]
			}
			w.primitive(e, er, typ, v, v != nil, x, x != nil, iloc, env)
		} else {
			w.complex(er, typ, arr[i], iloc, env)
		}
	}
}

// complex validates a complex-typed (or resource-typed) value.
func (w *walker) complex(er *elemRules, typ string, val any, loc *path, env *fhirpath.Env) {
	m, ok := val.(map[string]any)
	if !ok {
		w.errorf(CodeStructure, loc, "expected a JSON object of type "+typ)
		return
	}
	if len(m) == 0 {
		w.errorf(CodeStructure, loc, "empty object is not allowed")
		return
	}
	if typ == "Resource" {
		root := env.Vars["rootResource"][0].Data().(map[string]any)
		if er.contained {
			w.contained++
			defer func() { w.contained-- }()
		}
		w.resource(m, loc, root)
		return
	}
	t := model.Type(typ)
	if t == nil {
		return // the model has no such type; nothing more can be checked
	}
	if typ == "Extension" && er.modifier {
		if u, _ := m["url"].(string); u != "" && !w.v.modExt[u] {
			w.errorf(CodeExtension, loc, "unknown modifier extension "+strconv.Quote(u)+
				" (a modifier changes the meaning of its element, so it cannot be ignored)")
		}
	}
	if er.vs != "" && (typ == "CodeableConcept" || typ == "Coding") {
		if ok, known := codeIn(coreTerminology{}, er.vs, m); known && !ok {
			w.errorf(CodeCodeInvalid, loc, "no code from the required value set "+er.vs)
		}
	}
	if typ == "Reference" && er.targets != nil {
		w.referenceTarget(er.targets, m, loc, env)
	}
	w.object(m, t, loc, env, false, true)
	if !w.v.opts.SkipInvariants && len(er.invs) > 0 {
		w.invariants(er.invs, m, typ, loc, env)
	}
}

// primitive validates a primitive value and its "_" extension sibling.
func (w *walker) primitive(e *model.ElementInfo, er *elemRules, typ string, val any, hasVal bool, ext any, hasExt bool,
	loc *path, env *fhirpath.Env) {
	if hasExt && ext != nil {
		m, ok := ext.(map[string]any)
		switch {
		case !ok:
			w.errorf(CodeStructure, loc, "primitive extension must be a JSON object")
		case len(m) == 0:
			w.errorf(CodeStructure, loc, "empty object is not allowed")
		default:
			w.object(m, model.Type(typ), loc, env, false, !hasVal || val == nil)
		}
	}
	if !hasVal || val == nil {
		if !hasExt || ext == nil {
			w.errorf(CodeStructure, loc, "ele-1: primitive has neither a value nor an extension")
		}
		return
	}
	if msg := checkPrimitive(typ, val); msg != "" {
		w.errorf(CodeValue, loc, msg)
		return
	}
	if er.codes != nil {
		if s, ok := val.(string); ok && !er.codes[s] {
			w.errorf(CodeCodeInvalid, loc, "code "+strconv.Quote(s)+" is not in the required value set "+er.vs)
		}
	}
	if !w.v.opts.SkipInvariants && len(er.invs) > 0 {
		w.invariants(er.invs, val, typ, loc, env)
	}
}

// referenceTarget checks the type part of a literal reference against the
// element's target types (CarePlan.subject: Patient or Group). References
// whose type cannot be told from the string (urn:uuid:, logical references,
// unknown contained ids) are left alone.
func (w *walker) referenceTarget(targets []string, ref map[string]any, loc *path, env *fhirpath.Env) {
	s, _ := ref["reference"].(string)
	typ := ""
	switch {
	case s == "":
		typ, _ = ref["type"].(string)
	case s[0] == '#':
		res, _ := env.Vars["resource"][0].Data().(map[string]any)
		cont, _ := res["contained"].([]any)
		for _, c := range cont {
			if cm, ok := c.(map[string]any); ok && cm["id"] == s[1:] {
				typ, _ = cm["resourceType"].(string)
			}
		}
	default:
		typ = resource.ParseReference(s).Type
	}
	if typ == "" || slices.Contains(targets, typ) {
		return
	}
	w.errorf(CodeStructure, loc, "a reference to a "+typ+" is not allowed here (allowed: "+strings.Join(targets, ", ")+")")
}

// elemRules are the generated rules of one element of a type.
type elemRules struct {
	invs      []*invariant    // constraints defined on the element path itself
	vs        string          // required binding's value set URL
	codes     map[string]bool // codes of vs, for code elements
	modifier  bool            // the element is modifierExtension
	contained bool            // the element is DomainResource.contained
	targets   []string        // resource types a Reference may point to (nil: any)
}

// typeRules are the generated rules of a type.
type typeRules struct {
	invs  []*invariant // constraints of the type and its base types
	elems []elemRules  // parallel to TypeInfo.Elements
}

// rulesFor assembles (once per type) the invariants and bindings that apply
// to t's nodes and elements, following the base-type chain so that Age gets
// Quantity's rules and every element gets Element's.
func (v *Validator) rulesFor(t *model.TypeInfo) *typeRules {
	if r, ok := v.rules.Load(t); ok {
		return r.(*typeRules)
	}
	core := core()
	r := &typeRules{elems: make([]elemRules, len(t.Elements))}
	for n, depth := t.Name, 0; n != "" && depth < 8; n, depth = model.BaseType(n), depth+1 {
		r.invs = append(r.invs, core.byPath[n]...)
	}
	for i := range t.Elements {
		e := &t.Elements[i]
		er := &r.elems[i]
		er.modifier = e.Name == "modifierExtension"
		er.contained = e.Name == "contained" && t.Kind == model.KindResource
		for n, depth := t.Name, 0; n != "" && depth < 8; n, depth = model.BaseType(n), depth+1 {
			p := n + "." + e.Name
			if !slices.Contains(e.Types, p) { // backbone rules apply through the type
				er.invs = append(er.invs, core.byPath[p]...)
			}
			if er.targets == nil && slices.Contains(e.Types, "Reference") {
				if ts, ok := referenceTargets[p]; ok && !slices.Contains(ts, "Resource") {
					er.targets = ts
				}
			}
			if er.vs == "" {
				if vs, ok := requiredBindings[p]; ok {
					er.vs = vs
					er.codes = core.codes[vs]
				}
			}
		}
	}
	actual, _ := v.rules.LoadOrStore(t, r)
	return actual.(*typeRules)
}
