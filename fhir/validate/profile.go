package validate

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"ucp/fhir/fhirpath"
	"ucp/fhir/model"
	"ucp/fhir/resource"
)

const coreSDPrefix = "http://hl7.org/fhir/StructureDefinition/"

// ProfileMap is an in-memory ProfileSource: StructureDefinitions keyed by
// canonical URL (without version).
type ProfileMap map[string]map[string]any

var _ ProfileSource = ProfileMap(nil)

// NewProfileMap returns a ProfileMap holding the given StructureDefinitions.
func NewProfileMap(sds ...map[string]any) ProfileMap {
	m := ProfileMap{}
	for _, sd := range sds {
		if u, _ := sd["url"].(string); u != "" {
			m[u] = sd
		}
	}
	return m
}

// Profile implements ProfileSource.
func (m ProfileMap) Profile(_ context.Context, url string) (map[string]any, error) {
	url, _, _ = strings.Cut(url, "|")
	return m[url], nil
}

// profile is a compiled StructureDefinition: its differentials (and those of
// the profiles it derives from) merged by element id into a tree.
type profile struct {
	url, name, typ string
	root           *pnode
}

// pnode is one element of a profile tree: an element path segment, or a
// slice of one.
type pnode struct {
	name      string // element name as written in the id ("value[x]", "valueQuantity", "extension")
	sliceName string
	def       *elemDef
	children  []*pnode
	slices    []*pnode
}

func (n *pnode) child(name string) *pnode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	c := &pnode{name: name}
	n.children = append(n.children, c)
	return c
}

func (n *pnode) slice(name string) *pnode {
	for _, s := range n.slices {
		if s.sliceName == name {
			return s
		}
	}
	s := &pnode{name: n.name, sliceName: name}
	n.slices = append(n.slices, s)
	return s
}

type typeRef struct {
	code           string
	profiles       []string
	targetProfiles []string
}

type discriminator struct{ typ, path string }

// elemDef is the part of an ElementDefinition the validator uses.
type elemDef struct {
	id, path        string
	min             int
	hasMin          bool
	max             string
	fixed, pattern  any
	fixedName       string // "fixedUri", "patternCodeableConcept" (for messages)
	types           []typeRef
	bindingStrength string
	bindingVS       string
	invs            []*invariant
	discriminators  []discriminator
	rules           string // slicing rules: closed, open, openAtEnd
	sliced          bool
}

// loadProfile fetches url and the profiles it derives from and compiles
// them, using the cache when none of them changed.
func (w *walker) loadProfile(url string) (*profile, string) {
	src := w.v.opts.Profiles
	if src == nil {
		return nil, "" // no profile is known
	}
	var chain []map[string]any // leaf first
	key := ""
	for u := url; u != "" && !isCoreType(u); {
		if len(chain) > 16 {
			return nil, "baseDefinition chain too long (cycle?)"
		}
		sd, err := src.Profile(w.ctx, u)
		if err != nil {
			return nil, "cannot load " + u + ": " + err.Error()
		}
		if sd == nil {
			if len(chain) == 0 {
				return nil, ""
			}
			return nil, "base profile " + u + " is unknown"
		}
		if sd["resourceType"] != "StructureDefinition" {
			return nil, u + " is not a StructureDefinition"
		}
		chain = append(chain, sd)
		key += u + "|" + resource.Str(sd, "version") + "|" + metaStr(sd, "versionId") + "|" + metaStr(sd, "lastUpdated") + ";"
		u = resource.Str(sd, "baseDefinition")
	}
	if len(chain) == 0 {
		return nil, ""
	}
	if p, ok := w.v.profiles.Load(key); ok {
		return p.(*profile), ""
	}
	p, msg := compileProfile(chain)
	if p == nil {
		return nil, msg
	}
	w.v.profiles.Store(key, p)
	return p, ""
}

func isCoreType(u string) bool {
	name, ok := strings.CutPrefix(u, coreSDPrefix)
	return ok && model.Type(name) != nil
}

func metaStr(m map[string]any, k string) string {
	meta, _ := m["meta"].(map[string]any)
	return resource.Str(meta, k)
}

// compileProfile merges the chain's element definitions, base first, by
// element id: a derived profile's element overrides the keys it sets and adds
// its constraints to the inherited ones.
func compileProfile(chain []map[string]any) (*profile, string) {
	leaf := chain[0]
	p := &profile{url: resource.Str(leaf, "url"), name: resource.Str(leaf, "name"), typ: resource.Str(leaf, "type")}
	if p.typ == "" {
		return nil, "profile " + p.url + " has no type"
	}
	merged := map[string]map[string]any{}
	var order []string
	for i := len(chain) - 1; i >= 0; i-- {
		sd := chain[i]
		if t := resource.Str(sd, "type"); t != p.typ {
			return nil, "profile " + resource.Str(sd, "url") + " is for " + t + ", not " + p.typ
		}
		elems := elementsOf(sd, "differential")
		if elems == nil {
			elems = elementsOf(sd, "snapshot")
		}
		for _, e := range elems {
			id := resource.Str(e, "id")
			if id == "" {
				id = resource.Str(e, "path")
			}
			if id == "" {
				continue
			}
			old, ok := merged[id]
			if !ok {
				order = append(order, id)
				cp := make(map[string]any, len(e))
				for k, v := range e {
					cp[k] = v
				}
				merged[id] = cp
				continue
			}
			for k, v := range e {
				if k == "constraint" {
					prev, _ := old[k].([]any)
					add, _ := v.([]any)
					old[k] = append(append([]any(nil), prev...), add...)
					continue
				}
				old[k] = v
			}
		}
	}
	p.root = &pnode{name: p.typ}
	for _, id := range order {
		segs := splitID(id)
		if len(segs) == 0 || segs[0] != p.typ {
			continue
		}
		n := p.root
		for _, s := range segs[1:] {
			name, slice, _ := strings.Cut(s, ":")
			n = n.child(name)
			if slice != "" {
				// Slices of choice types are written value[x]:valueQuantity;
				// they constrain the type, like the valueQuantity form.
				n = n.slice(slice)
			}
		}
		d, msg := parseElemDef(merged[id], p.url)
		if d == nil {
			return nil, msg
		}
		n.def = d
	}
	return p, ""
}

// splitID splits an element id at the dots that separate path segments
// (a slice name may itself contain dots: "extension:a.b" is rare but legal,
// so dots after a colon up to the next segment are kept).
func splitID(id string) []string {
	var segs []string
	start := 0
	inSlice := false
	for i := 0; i < len(id); i++ {
		switch id[i] {
		case ':':
			inSlice = true
		case '.':
			if inSlice && i+1 < len(id) && !(id[i+1] >= 'a' && id[i+1] <= 'z') {
				continue
			}
			segs = append(segs, id[start:i])
			start = i + 1
			inSlice = false
		}
	}
	return append(segs, id[start:])
}

func elementsOf(sd map[string]any, part string) []map[string]any {
	m, _ := sd[part].(map[string]any)
	list, _ := m["element"].([]any)
	if len(list) == 0 {
		return nil
	}
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		if em, ok := e.(map[string]any); ok {
			out = append(out, em)
		}
	}
	return out
}

var coreInvariantSet = func() map[[2]string]bool {
	s := map[[2]string]bool{}
	for _, d := range coreInvariants {
		s[[2]string{d.Key, d.Expression}] = true
	}
	return s
}()

func parseElemDef(e map[string]any, url string) (*elemDef, string) {
	d := &elemDef{id: resource.Str(e, "id"), path: resource.Str(e, "path"), max: resource.Str(e, "max")}
	if n, ok := e["min"].(json.Number); ok {
		i, _ := strconv.Atoi(string(n))
		d.min, d.hasMin = i, true
	} else if f, ok := e["min"].(float64); ok {
		d.min, d.hasMin = int(f), true
	}
	for k, v := range e {
		if strings.HasPrefix(k, "fixed") {
			d.fixed, d.fixedName = v, k
		} else if strings.HasPrefix(k, "pattern") {
			d.pattern, d.fixedName = v, k
		}
	}
	types, _ := e["type"].([]any)
	for _, t := range types {
		tm, _ := t.(map[string]any)
		tr := typeRef{code: resource.Str(tm, "code")}
		tr.profiles = stringList(tm["profile"])
		tr.targetProfiles = stringList(tm["targetProfile"])
		d.types = append(d.types, tr)
	}
	if b, ok := e["binding"].(map[string]any); ok {
		d.bindingStrength = resource.Str(b, "strength")
		d.bindingVS = resource.Str(b, "valueSet")
	}
	if s, ok := e["slicing"].(map[string]any); ok {
		d.sliced = true
		d.rules = resource.Str(s, "rules")
		ds, _ := s["discriminator"].([]any)
		for _, x := range ds {
			xm, _ := x.(map[string]any)
			d.discriminators = append(d.discriminators, discriminator{resource.Str(xm, "type"), resource.Str(xm, "path")})
		}
	}
	cs, _ := e["constraint"].([]any)
	for _, c := range cs {
		cm, _ := c.(map[string]any)
		key, expr := resource.Str(cm, "key"), resource.Str(cm, "expression")
		if expr == "" {
			continue
		}
		if src := resource.Str(cm, "source"); strings.HasPrefix(src, coreSDPrefix) && isCoreType(src) {
			continue // a core invariant: the base validation checks it
		}
		if coreInvariantSet[[2]string{key, expr}] {
			continue
		}
		sev := resource.Str(cm, "severity")
		inv, err := compileInvariant(key, sev, resource.Str(cm, "human"), expr)
		if err != nil {
			return nil, "profile " + url + ": constraint " + key + " does not compile: " + err.Error()
		}
		d.invs = append(d.invs, inv)
	}
	return d, ""
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// profile validates res against the profile at url.
func (w *walker) profile(res map[string]any, url string, explicit bool) {
	rt, _ := res["resourceType"].(string)
	base, _, _ := strings.Cut(url, "|")
	if name, ok := strings.CutPrefix(base, coreSDPrefix); ok && model.Type(name) != nil {
		if name != rt && !model.IsA(rt, name) {
			w.errorAt(CodeStructure, rt, "resource is a "+rt+", not a "+name+" (profile "+url+")")
		}
		return // the base structure has been checked
	}
	p, msg := w.loadProfile(base)
	if p == nil {
		switch {
		case msg != "":
			w.errorAt(CodeProcessing, rt, "cannot validate against profile "+url+": "+msg)
		case explicit:
			w.errorAt(CodeNotFound, rt, "unknown profile "+url)
		default:
			w.add(SeverityWarning, CodeNotFound, rt, "profile "+url+" in meta.profile is unknown to this server; not checked")
		}
		return
	}
	if p.typ != rt {
		w.errorAt(CodeStructure, rt, "profile "+url+" is for "+p.typ+", not "+rt)
		return
	}
	pw := &profileWalker{walker: w, p: p, env: w.newEnv(res, res)}
	root := val{v: res, typ: rt, loc: rt}
	pw.checkValue(p.root.def, root)
	pw.children(p.root, root)
}

type profileWalker struct {
	*walker
	p   *profile
	env *fhirpath.Env
}

// val is one value of an element: its JSON node, the "_" sibling for a
// primitive, its FHIR type and location.
type val struct {
	v   any
	ext map[string]any
	typ string
	loc string
}

func (w *profileWalker) suffix() string { return " (profile " + w.p.url + ")" }

// children checks the child element definitions of n on the value v.
func (w *profileWalker) children(n *pnode, v val) {
	if len(n.children) == 0 {
		return
	}
	obj, _ := v.v.(map[string]any)
	t := model.Type(v.typ)
	if model.IsPrimitive(v.typ) {
		obj = v.ext // children of a primitive live in its "_" sibling
	}
	if obj == nil || t == nil {
		for _, c := range n.children {
			if c.def != nil && c.def.hasMin && c.def.min > 0 && !model.IsPrimitive(v.typ) {
				w.errorAt(CodeRequired, v.loc+"."+strings.TrimSuffix(c.name, "[x]"),
					"missing "+c.name+", required (min "+strconv.Itoa(c.def.min)+")"+w.suffix())
			}
		}
		return
	}
	for _, c := range n.children {
		vals := collect(t, obj, c.name, v.loc)
		w.element(c, vals, v.loc+"."+strings.TrimSuffix(c.name, "[x]"), t)
	}
}

// collect gathers the values of the element written name (value[x],
// valueQuantity or a plain name) in obj of type t.
func collect(t *model.TypeInfo, obj map[string]any, name, loc string) []val {
	var names, types []string
	var list bool
	if e := t.Element(strings.TrimSuffix(name, "[x]")); e != nil {
		names, types, list = e.JSONNames, e.Types, e.IsList()
	} else if e, typ := t.ElementByJSONName(name); e != nil {
		names, types, list = []string{name}, []string{typ}, e.IsList()
	} else {
		return nil
	}
	var out []val
	for j, jn := range names {
		v, hasV := obj[jn]
		x, hasX := obj["_"+jn]
		if !hasV && !hasX {
			continue
		}
		if !list {
			xm, _ := x.(map[string]any)
			out = append(out, val{v: v, ext: xm, typ: types[j], loc: loc + "." + jn})
			continue
		}
		arr, _ := v.([]any)
		xarr, _ := x.([]any)
		for i := 0; i < max(len(arr), len(xarr)); i++ {
			var item any
			var xm map[string]any
			if i < len(arr) {
				item = arr[i]
			}
			if i < len(xarr) {
				xm, _ = xarr[i].(map[string]any)
			}
			out = append(out, val{v: item, ext: xm, typ: types[j], loc: loc + "." + jn + "[" + strconv.Itoa(i) + "]"})
		}
	}
	return out
}

// element checks one element definition (and its slices) on its values.
func (w *profileWalker) element(n *pnode, vals []val, loc string, owner *model.TypeInfo) {
	d := n.def
	if d != nil {
		w.cardinality(d, len(vals), loc, owner, strings.TrimSuffix(n.name, "[x]"), "")
		for _, v := range vals {
			w.checkValue(d, v)
		}
	}
	if len(n.slices) > 0 {
		w.slicing(n, vals, loc, owner)
	}
	for _, v := range vals {
		w.children(n, v)
	}
}

// cardinality reports a count outside the definition's range, but only
// where the profile narrows the base (the base validation reports the rest).
func (w *profileWalker) cardinality(d *elemDef, count int, loc string, owner *model.TypeInfo, name, slice string) {
	baseMin, baseMax := 0, "*"
	if slice == "" {
		if e := owner.Element(name); e != nil {
			baseMin, baseMax = e.Min, e.Max
		}
	}
	what := name
	if slice != "" {
		what = "slice " + strconv.Quote(slice) + " of " + name
	}
	if d.hasMin && d.min > baseMin && count < d.min {
		w.errorAt(CodeRequired, loc, what+" requires at least "+strconv.Itoa(d.min)+", found "+strconv.Itoa(count)+w.suffix())
	}
	if d.max != "" && d.max != "*" && d.max != baseMax {
		if m, err := strconv.Atoi(d.max); err == nil && count > m {
			w.errorAt(CodeStructure, loc, what+" allows at most "+d.max+", found "+strconv.Itoa(count)+w.suffix())
		}
	}
}

// checkValue checks one value against a definition: type, target profile,
// fixed, pattern, binding and constraints.
func (w *profileWalker) checkValue(d *elemDef, v val) {
	if d == nil {
		return
	}
	if len(d.types) > 0 && v.typ != "" {
		ok := false
		for _, t := range d.types {
			if typeMatches(v.typ, t.code) {
				ok = true
				break
			}
		}
		if !ok {
			w.errorAt(CodeStructure, v.loc, "type "+v.typ+" is not allowed here"+w.suffix())
			return
		}
		if v.typ == "Reference" {
			w.targetProfile(d, v)
		}
		w.typeProfiles(d, v)
	}
	if d.fixed != nil && !equalJSON(v.v, d.fixed) {
		w.errorAt(CodeValue, v.loc, "value must be exactly "+string(resource.Marshal(d.fixed))+" ("+d.fixedName+")"+w.suffix())
	}
	if d.pattern != nil && !matchesPattern(v.v, d.pattern) {
		w.errorAt(CodeValue, v.loc, "value does not match "+d.fixedName+" "+string(resource.Marshal(d.pattern))+w.suffix())
	}
	if d.bindingVS != "" && (d.bindingStrength == "required" || d.bindingStrength == "extensible") && v.v != nil &&
		!sameAsCoreBinding(d) {
		w.binding(d, v)
	}
	if len(d.invs) > 0 && !w.v.opts.SkipInvariants && v.v != nil {
		w.invariants(d.invs, v.v, v.typ, strLoc(v.loc), w.env)
	}
}

// typeProfiles applies the profiles a type names (type.profile: an
// extension's definition, a profiled datatype) to a value of that type, when
// the ProfileSource knows them. Each is applied with its own walker, so its
// messages name it.
func (w *profileWalker) typeProfiles(d *elemDef, v val) {
	if _, isObj := v.v.(map[string]any); !isObj || w.depth > 8 {
		return
	}
	for _, t := range d.types {
		if !typeMatches(v.typ, t.code) {
			continue
		}
		for _, u := range t.profiles {
			u, _, _ = strings.Cut(u, "|")
			if isCoreType(u) || u == w.p.url {
				continue
			}
			p, _ := w.loadProfile(u)
			if p == nil || !typeMatches(v.typ, p.typ) {
				continue // unknown profiles of datatypes are not an error here
			}
			w.depth++
			sub := &profileWalker{walker: w.walker, p: p, env: w.env}
			sub.checkValue(p.root.def, v)
			sub.children(p.root, v)
			w.depth--
		}
	}
}

// sameAsCoreBinding reports whether d repeats a core required binding
// (snapshots carry them on every coded element), which the base validation
// has already checked.
func sameAsCoreBinding(d *elemDef) bool {
	vs, _, _ := strings.Cut(d.bindingVS, "|")
	return d.bindingStrength == "required" && requiredBindings[strings.TrimSuffix(d.path, "[x]")] == vs
}

func typeMatches(actual, allowed string) bool {
	if actual == allowed || model.IsA(actual, allowed) {
		return true
	}
	// A profile on a datatype (SimpleQuantity, MoneyQuantity) names a
	// narrower type than the model gives the element.
	return model.IsA(allowed, actual) && model.Type(allowed) != nil && model.Type(allowed).Kind != model.KindPrimitive
}

// targetProfile checks the type part of a reference against the allowed
// target profiles.
func (w *profileWalker) targetProfile(d *elemDef, v val) {
	var allowed []string
	for _, t := range d.types {
		for _, tp := range t.targetProfiles {
			tp, _, _ = strings.Cut(tp, "|")
			if name, ok := strings.CutPrefix(tp, coreSDPrefix); ok && model.Type(name) != nil {
				allowed = append(allowed, name)
				continue
			}
			sd, _ := w.v.opts.Profiles.Profile(w.ctx, tp)
			if sd == nil {
				return // unknown target profile: its type cannot be known
			}
			allowed = append(allowed, resource.Str(sd, "type"))
		}
	}
	if len(allowed) == 0 {
		return
	}
	m, _ := v.v.(map[string]any)
	ref := resource.Str(m, "reference")
	typ := ""
	switch {
	case ref == "":
		typ = resource.Str(m, "type")
	case strings.HasPrefix(ref, "#"):
		root, _ := w.env.Vars["resource"][0].Data().(map[string]any)
		cont, _ := root["contained"].([]any)
		for _, c := range cont {
			if cm, ok := c.(map[string]any); ok && resource.Str(cm, "id") == ref[1:] {
				typ = resource.Str(cm, "resourceType")
			}
		}
	default:
		typ = resource.ParseReference(ref).Type
	}
	if typ == "" {
		return
	}
	for _, a := range allowed {
		if a == typ || a == "Resource" || model.IsA(typ, a) {
			return
		}
	}
	w.errorAt(CodeStructure, v.loc, "reference to a "+typ+" is not allowed here (allowed: "+strings.Join(allowed, ", ")+")"+w.suffix())
}

func (w *profileWalker) binding(d *elemDef, v val) {
	switch v.typ {
	case "code", "Coding", "CodeableConcept", "string", "uri":
	default:
		return
	}
	var term Terminology = coreTerminology{}
	if w.v.opts.Terminology != nil {
		term = w.v.opts.Terminology
	}
	if cc, ok := v.v.(map[string]any); ok && v.typ == "CodeableConcept" && cc["coding"] == nil {
		if d.bindingStrength == "required" {
			w.errorAt(CodeCodeInvalid, v.loc, "a coding from value set "+d.bindingVS+" is required"+w.suffix())
		}
		return
	}
	ok, known := codeIn(term, d.bindingVS, v.v)
	switch {
	case !known:
		w.add(SeverityWarning, CodeProcessing, v.loc, "value set "+d.bindingVS+" is unknown; binding not checked"+w.suffix())
	case ok:
	case d.bindingStrength == "required":
		w.errorAt(CodeCodeInvalid, v.loc, "code is not in the required value set "+d.bindingVS+w.suffix())
	default:
		w.add(SeverityWarning, CodeCodeInvalid, v.loc, "code is not in the extensible value set "+d.bindingVS+w.suffix())
	}
}

// slicing assigns each value to the first slice whose discriminators it
// matches, then checks each slice's cardinality and definition, and the
// slicing rules (closed: every value must be in a slice).
func (w *profileWalker) slicing(n *pnode, vals []val, loc string, owner *model.TypeInfo) {
	var discs []discriminator
	rules := "open"
	if n.def != nil {
		discs, rules = n.def.discriminators, n.def.rules
	}
	if len(discs) == 0 && (n.name == "extension" || n.name == "modifierExtension") {
		// Extensions are sliced by url in every R4 base snapshot, so a
		// differential (UK Core's, for one) slices them without saying so.
		discs = []discriminator{{typ: "value", path: "url"}}
	}
	matched := make([][]val, len(n.slices))
	for _, v := range vals {
		in := -1
		for i, s := range n.slices {
			if w.matchesSlice(s, discs, v) {
				in = i
				break
			}
		}
		if in < 0 {
			if rules == "closed" {
				w.errorAt(CodeStructure, v.loc, "value matches none of the slices of "+n.name+", and the slicing is closed"+w.suffix())
			}
			continue
		}
		matched[in] = append(matched[in], v)
	}
	for i, s := range n.slices {
		if s.def != nil {
			w.cardinality(s.def, len(matched[i]), loc, owner, strings.TrimSuffix(n.name, "[x]"), s.sliceName)
		}
		for _, v := range matched[i] {
			w.checkValue(s.def, v)
			w.children(s, v)
		}
	}
}

// matchesSlice reports whether v satisfies all discriminators of slice s.
func (w *profileWalker) matchesSlice(s *pnode, discs []discriminator, v val) bool {
	if len(discs) == 0 {
		// A choice element sliced by type without a slicing definition
		// (value[x]:valueQuantity) is told apart by the value's type; other
		// slices without discriminators cannot be assigned.
		if strings.HasSuffix(s.name, "[x]") && s.def != nil && len(s.def.types) == 1 {
			return typeMatches(v.typ, s.def.types[0].code)
		}
		return false
	}
	for _, d := range discs {
		switch d.typ {
		case "value", "pattern":
			want, isPattern, found := discriminatorValue(s, d.path)
			if !found {
				return false
			}
			got := navigate(v.v, d.path)
			ok := false
			for _, g := range got {
				if (isPattern || d.typ == "pattern") && matchesPattern(g, want) || !isPattern && equalJSON(g, want) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		case "type":
			if d.path != "$this" || s.def == nil || len(s.def.types) == 0 {
				return false
			}
			if !typeMatches(v.typ, s.def.types[0].code) {
				return false
			}
		case "exists":
			c := findNode(s, d.path)
			if c == nil || c.def == nil {
				return false
			}
			exists := len(navigate(v.v, d.path)) > 0
			if c.def.max == "0" && exists || c.def.min > 0 && !exists {
				return false
			}
		default:
			return false // profile discriminators need resolution: not supported
		}
	}
	return true
}

// discriminatorValue finds the fixed or pattern value a slice requires at
// path (relative to the slice), or for an extension slice discriminated by
// url, the extension definition's canonical from type.profile.
func discriminatorValue(s *pnode, path string) (v any, isPattern, found bool) {
	n := findNode(s, path)
	if n != nil && n.def != nil {
		if n.def.fixed != nil {
			return n.def.fixed, false, true
		}
		if n.def.pattern != nil {
			return n.def.pattern, true, true
		}
	}
	if path == "url" && s.def != nil {
		for _, t := range s.def.types {
			if t.code == "Extension" && len(t.profiles) > 0 {
				u, _, _ := strings.Cut(t.profiles[0], "|")
				return u, false, true
			}
		}
	}
	return nil, false, false
}

func findNode(s *pnode, path string) *pnode {
	if path == "$this" || path == "" {
		return s
	}
	return findPath(s, strings.Split(path, "."))
}

// findPath descends by element names; where an element is itself sliced
// (component:SystolicBP.code.coding:SBPCode.code), the value may be fixed
// inside one of its slices, so those are searched too.
func findPath(n *pnode, segs []string) *pnode {
	if len(segs) == 0 {
		return n
	}
	var fallback *pnode
	for _, c := range n.children {
		if c.name != segs[0] && strings.TrimSuffix(c.name, "[x]") != segs[0] {
			continue
		}
		for _, cand := range append([]*pnode{c}, c.slices...) {
			r := findPath(cand, segs[1:])
			if r == nil {
				continue
			}
			if r.def != nil && (r.def.fixed != nil || r.def.pattern != nil) {
				return r
			}
			if fallback == nil {
				fallback = r
			}
		}
	}
	return fallback
}

// navigate follows a simple dotted path through JSON, flattening arrays.
func navigate(v any, path string) []any {
	cur := []any{v}
	if path == "$this" || path == "" {
		return cur
	}
	for _, seg := range strings.Split(path, ".") {
		var next []any
		for _, c := range cur {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			switch x := m[seg].(type) {
			case nil:
			case []any:
				next = append(next, x...)
			default:
				next = append(next, x)
			}
		}
		cur = next
	}
	return cur
}

// equalJSON compares two JSON values exactly (numbers by their value).
func equalJSON(a, b any) bool {
	switch b := b.(type) {
	case map[string]any:
		am, ok := a.(map[string]any)
		if !ok || len(am) != len(b) {
			return false
		}
		for k, bv := range b {
			if !equalJSON(am[k], bv) {
				return false
			}
		}
		return true
	case []any:
		aa, ok := a.([]any)
		if !ok || len(aa) != len(b) {
			return false
		}
		for i := range b {
			if !equalJSON(aa[i], b[i]) {
				return false
			}
		}
		return true
	}
	return equalPrimitive(a, b)
}

func equalPrimitive(a, b any) bool {
	an, aok := number(a)
	bn, bok := number(b)
	if aok || bok {
		if !aok || !bok {
			return false
		}
		da, err1 := fhirpath.ParseDecimal(an)
		db, err2 := fhirpath.ParseDecimal(bn)
		if err1 != nil || err2 != nil {
			return an == bn
		}
		return da.Cmp(db) == 0
	}
	return a == b
}

func number(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return string(n), true
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64), true
	}
	return "", false
}

// matchesPattern reports whether v contains pattern: every property of a
// pattern object is matched, every item of a pattern array matches some
// item of the value's array, primitives are equal.
func matchesPattern(v, pattern any) bool {
	switch p := pattern.(type) {
	case map[string]any:
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for k, pv := range p {
			if !matchesPattern(m[k], pv) {
				return false
			}
		}
		return true
	case []any:
		arr, ok := v.([]any)
		if !ok {
			return false
		}
		for _, pi := range p {
			found := false
			for _, vi := range arr {
				if matchesPattern(vi, pi) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	return equalPrimitive(v, pattern)
}

// strLoc is a location that is already a string.
type strLoc string

func (s strLoc) String() string { return string(s) }
