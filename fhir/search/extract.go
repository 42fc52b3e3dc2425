package search

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"ucp/fhir/fhirpath"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/store"
)

// Extract computes the index entries of a resource: each search parameter of
// its type (and the Resource-level ones) is evaluated and its values turned
// into store.Entry values by FHIR datatype, as R4 search.html describes for
// each parameter type. It also returns the ids of the Patients in whose
// compartment the resource is (a Patient is in its own), sorted.
//
// _id and _lastUpdated get no entries: the store answers them from the
// resource itself. A composite parameter's entries are its components'
// (see store.Entry.Group). Special parameters are not indexed, but for
// _text and _content (see text.go).
// An expression that fails on this resource is an Unprocessable error
// naming the parameter.
func (r *Registry) Extract(res map[string]any) (entries []store.Entry, patients []string, err error) {
	typ, _ := res["resourceType"].(string)
	if typ == "" {
		return nil, nil, outcome.Errorf(outcome.Invalid, "resource has no resourceType")
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	own := r.byType[typ]
	// Entries are large structs: one allocation of a likely size instead
	// of repeated growth (the profile's top cost otherwise).
	x := extractor{base: r.baseURL, out: make([]store.Entry, 0, 2*(len(own)+len(r.byType[resourceBase])))}
	env := &fhirpath.Env{}
	run := func(p *Param) error {
		if p.expr == nil || p.Code == "_id" || p.Code == "_lastUpdated" {
			return nil
		}
		coll, err := p.expr.Evaluate(res, env)
		if err != nil {
			return &outcome.Error{Kind: outcome.Unprocessable, Message: fmt.Sprintf("search parameter %s (%s): %v", p.Code, p.Expression, err), Err: err}
		}
		if p.Type == store.Composite {
			return x.composite(p, coll, env)
		}
		start := len(x.out)
		for _, it := range coll {
			x.item(p, it.TypeName(), it.Data())
		}
		x.dedupe(start)
		return nil
	}
	for _, p := range r.order[resourceBase] {
		if _, over := own[p.Code]; over {
			continue
		}
		if err := run(p); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range r.order[typ] {
		if err := run(p); err != nil {
			return nil, nil, err
		}
	}

	x.out = append(x.out, textEntries(res)...)

	// The Patient compartment (CompartmentDefinition-patient): the Patient
	// references among the entries of the type's compartment parameters.
	seen := map[string]bool{}
	if typ == "Patient" {
		if id, _ := res["id"].(string); id != "" {
			seen[id] = true
		}
	}
	for _, code := range r.compartment[typ] {
		for _, e := range x.out {
			if e.Param == code && e.RefType == "Patient" && e.RefID != "" {
				seen[e.RefID] = true
			}
		}
	}
	for id := range seen {
		patients = append(patients, id)
	}
	sort.Strings(patients)
	return x.out, patients, nil
}

// Patients returns the ids of the Patients in whose compartment res is,
// evaluating only the type's compartment parameters: the audit asks this of
// every resource a read returns, and a full Extract would cost ten times
// more.
func (r *Registry) Patients(res map[string]any) ([]string, error) {
	typ, _ := res["resourceType"].(string)
	r.mu.RLock()
	defer r.mu.RUnlock()
	x := extractor{base: r.baseURL}
	env := &fhirpath.Env{}
	seen := map[string]bool{}
	var out []string
	if id, _ := res["id"].(string); typ == "Patient" && id != "" {
		seen[id] = true // a Patient is in its own compartment
		out = append(out, id)
	}
	for _, code := range r.compartment[typ] {
		p := r.byType[typ][code]
		if p == nil || p.expr == nil || p.Type != store.Reference {
			continue
		}
		coll, err := p.expr.Evaluate(res, env)
		if err != nil {
			return nil, outcome.Errorf(outcome.Unprocessable, "search parameter %s (%s): %v", p.Code, p.Expression, err)
		}
		x.out = x.out[:0]
		for _, it := range coll {
			x.item(p, it.TypeName(), it.Data())
		}
		for _, e := range x.out {
			if e.RefType == "Patient" && e.RefID != "" && !seen[e.RefID] {
				seen[e.RefID] = true
				out = append(out, e.RefID)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// ofType is the suffix of the parameter name under which Identifier entries
// for the :of-type modifier are kept ("identifier:of-type").
const ofType = ":of-type"

// extractor accumulates the entries of one resource.
type extractor struct {
	base string // our base URL, for recognising local absolute references
	out  []store.Entry
}

// composite adds the entries of a composite parameter: each value of its
// expression (the Observation itself, or one Observation.component) is one
// group, and each component's values within it are entries of the
// component's type under store.CompositeParam(code, i), all with that
// group's number. A value lacking some component gets no entries, since it
// can never match.
func (x *extractor) composite(p *Param, coll fhirpath.Collection, env *fhirpath.Env) error {
	group := 0
	for _, it := range coll {
		start := len(x.out)
		complete := true
		for i := range p.Components {
			c := &p.Components[i]
			vals, err := c.expr.EvaluateOn(it, env)
			if err != nil {
				return &outcome.Error{Kind: outcome.Unprocessable, Message: fmt.Sprintf("search parameter %s component %d (%s): %v", p.Code, i, c.Expression, err), Err: err}
			}
			cp := &Param{Code: store.CompositeParam(p.Code, i), Type: c.Type}
			before := len(x.out)
			for _, v := range vals {
				x.item(cp, v.TypeName(), v.Data())
			}
			x.dedupe(before)
			if len(x.out) == before {
				complete = false
				break
			}
		}
		if !complete {
			x.out = x.out[:start]
			continue
		}
		group++
		for i := start; i < len(x.out); i++ {
			x.out[i].Group = group
		}
	}
	return nil
}

// dedupe drops repeated entries among out[start:] (one parameter's values):
// "name" gives the same given name from the parts and from the whole text.
func (x *extractor) dedupe(start int) {
	vals := x.out[start:]
	n := 0
	for i, e := range vals {
		dup := false
		for _, f := range vals[:n] {
			if e == f {
				dup = true
				break
			}
		}
		if !dup {
			vals[n] = vals[i]
			n++
		}
	}
	x.out = x.out[:start+n]
}

// item adds the entries of one value of parameter p, of FHIR type typ ("" when
// the engine does not know it: the type is then guessed from the JSON shape).
func (x *extractor) item(p *Param, typ string, v any) {
	if v == nil {
		return
	}
	typ = strings.TrimPrefix(typ, "FHIR.")
	if typ == "" || strings.HasPrefix(typ, "System.") {
		typ = guessType(v, typ)
	}
	if typ == "Extension" {
		// An extension-valued parameter (Patient.extension('…')) indexes
		// the extension's value[x].
		if m, ok := v.(map[string]any); ok {
			for k, val := range m {
				if strings.HasPrefix(k, "value") && len(k) > 5 {
					x.item(p, valueType(k[5:]), val)
				}
			}
		}
		return
	}
	switch p.Type {
	case store.Token:
		x.token(p.Code, typ, v)
	case store.String:
		x.str(p.Code, typ, v)
	case store.Date:
		x.date(p.Code, typ, v)
	case store.Reference:
		x.reference(p, typ, v)
	case store.Number, store.Quantity:
		x.quantity(p, typ, v)
	case store.URI:
		if s, ok := v.(string); ok && s != "" {
			x.out = append(x.out, store.Entry{Param: p.Code, Type: store.URI, Exact: s})
		}
	}
}

// valueType is the FHIR type of a value[x] suffix: "CodeableConcept" stays,
// "String" → "string", "DateTime" → "dateTime".
func valueType(suffix string) string {
	if suffix == "" {
		return ""
	}
	switch suffix {
	case "String", "Boolean", "Integer", "Decimal", "Uri", "Url", "Canonical", "Code", "Oid", "Id",
		"Uuid", "Markdown", "Base64Binary", "Instant", "Date", "DateTime", "Time", "PositiveInt", "UnsignedInt":
		return strings.ToLower(suffix[:1]) + suffix[1:]
	}
	return suffix
}

// guessType names the FHIR type of a value the engine could not type, from
// its JSON shape; sys is the engine's System type, if any.
func guessType(v any, sys string) string {
	switch t := v.(type) {
	case string:
		if sys == "System.Date" || sys == "System.DateTime" {
			return "dateTime"
		}
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64, int64, int:
		return "decimal"
	case map[string]any:
		switch {
		case t["resourceType"] != nil:
			return "Resource"
		case t["coding"] != nil:
			return "CodeableConcept"
		case t["reference"] != nil || (t["identifier"] != nil && t["system"] == nil):
			return "Reference"
		case t["family"] != nil || t["given"] != nil:
			return "HumanName"
		case t["line"] != nil || t["city"] != nil || t["postalCode"] != nil:
			return "Address"
		case t["start"] != nil || t["end"] != nil:
			return "Period"
		case t["event"] != nil || t["repeat"] != nil:
			return "Timing"
		case t["value"] != nil && (t["unit"] != nil || t["code"] != nil && t["system"] != nil || t["comparator"] != nil):
			return "Quantity"
		case t["low"] != nil || t["high"] != nil:
			return "Range"
		case t["url"] != nil && hasValueX(t):
			return "Extension"
		case t["system"] != nil && t["value"] != nil:
			return "Identifier"
		case t["code"] != nil:
			return "Coding"
		case t["value"] != nil:
			return "Identifier"
		case t["text"] != nil:
			return "CodeableConcept"
		}
	}
	return ""
}

func hasValueX(m map[string]any) bool {
	for k := range m {
		if strings.HasPrefix(k, "value") {
			return true
		}
	}
	return false
}

func strs(m map[string]any, k string) []string {
	switch v := m[k].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func maps(v any) []map[string]any {
	switch t := v.(type) {
	case map[string]any:
		return []map[string]any{t}
	case []any:
		out := make([]map[string]any, 0, len(t))
		for _, x := range t {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// token indexes a token value (R4 search.html#token).
func (x *extractor) token(code, typ string, v any) {
	add := func(system, c, text string) {
		if system == "" && c == "" && text == "" {
			return
		}
		x.out = append(x.out, store.Entry{Param: code, Type: store.Token, System: system, Code: c, Text: normalize(text)})
	}
	switch t := v.(type) {
	case string:
		add("", t, "")
		return
	case bool:
		if t {
			add("", "true", "")
		} else {
			add("", "false", "")
		}
		return
	case json.Number:
		add("", t.String(), "")
		return
	case int64:
		add("", fmt.Sprint(t), "")
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	switch typ {
	case "Coding":
		add(resource.Str(m, "system"), resource.Str(m, "code"), resource.Str(m, "display"))
	case "CodeableConcept":
		// :text matches CodeableConcept.text or a Coding.display: each
		// coding's Text holds both, so a word of either is found.
		text := resource.Str(m, "text")
		codings := maps(m["coding"])
		for _, c := range codings {
			t := joinNonEmpty(" ", text, resource.Str(c, "display"))
			add(resource.Str(c, "system"), resource.Str(c, "code"), t)
		}
		if len(codings) == 0 {
			add("", "", text)
		}
	case "Identifier":
		// :text on an Identifier matches its type's text.
		tt := ""
		if t, ok := m["type"].(map[string]any); ok {
			tt = resource.Str(t, "text")
			for _, c := range maps(t["coding"]) {
				tt = joinNonEmpty(" ", tt, resource.Str(c, "display"))
			}
		}
		add(resource.Str(m, "system"), resource.Str(m, "value"), tt)
		// :of-type (system|code|value) has entries of its own under
		// "<code>:of-type", Code holding "typecode|value", so that any store
		// answers it as a plain token match.
		if t, ok := m["type"].(map[string]any); ok && resource.Str(m, "value") != "" {
			for _, c := range maps(t["coding"]) {
				if tc := resource.Str(c, "code"); tc != "" {
					x.out = append(x.out, store.Entry{Param: code + ofType, Type: store.Token, System: resource.Str(c, "system"), Code: tc + "|" + resource.Str(m, "value")})
				}
			}
		}
	case "ContactPoint":
		// The value is the token; its system (phone, email…) goes into
		// System so that "phone|0123" works as well as "0123".
		add(resource.Str(m, "system"), resource.Str(m, "value"), "")
	case "Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "Money":
		if n, ok := m["value"].(json.Number); ok {
			add(resource.Str(m, "system"), n.String(), "")
		}
	case "Reference":
		// Some token parameters point at Identifier | Reference choices;
		// only the identifier is a token.
		if id, ok := m["identifier"].(map[string]any); ok {
			x.token(code, "Identifier", id)
		}
	}
}

func joinNonEmpty(sep string, parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	return b.String()
}

// str indexes a string value (R4 search.html#string): every part of a
// HumanName or Address, and the whole of it, each normalised and as written.
func (x *extractor) str(code, typ string, v any) {
	add := func(s string) {
		if strings.TrimSpace(s) == "" {
			return
		}
		x.out = append(x.out, store.Entry{Param: code, Type: store.String, Norm: normalize(s), Exact: s})
	}
	switch t := v.(type) {
	case string:
		add(t)
		return
	case json.Number:
		add(t.String())
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	switch typ {
	case "HumanName":
		var whole []string
		for _, k := range []string{"prefix", "given", "family", "suffix"} {
			for _, s := range strs(m, k) {
				add(s)
				whole = append(whole, s)
			}
		}
		add(resource.Str(m, "text"))
		add(strings.Join(whole, " "))
	case "Address":
		var whole []string
		for _, k := range []string{"line", "city", "district", "state", "postalCode", "country"} {
			for _, s := range strs(m, k) {
				add(s)
				whole = append(whole, s)
			}
		}
		add(resource.Str(m, "text"))
		add(strings.Join(whole, ", "))
	case "CodeableConcept":
		add(resource.Str(m, "text"))
		for _, c := range maps(m["coding"]) {
			add(resource.Str(c, "display"))
		}
	case "Coding":
		add(resource.Str(m, "display"))
	case "Annotation":
		add(resource.Str(m, "text"))
	case "Identifier":
		add(resource.Str(m, "value"))
	case "ContactPoint":
		add(resource.Str(m, "value"))
	}
}

// date indexes a date value (R4 search.html#date) as the range it covers.
func (x *extractor) date(code, typ string, v any) {
	add := func(lo, hi time.Time) {
		x.out = append(x.out, store.Entry{Param: code, Type: store.Date, Low: lo, High: hi})
	}
	switch t := v.(type) {
	case string:
		if lo, hi, ok := dateRange(t); ok {
			add(lo, hi)
		}
		return
	case map[string]any:
		switch typ {
		case "Period":
			if lo, hi, ok := periodRange(t); ok {
				add(lo, hi)
			}
		case "Timing":
			// From the first event to the end of the last; without events,
			// the repeat's bounds period.
			var lo, hi time.Time
			for _, e := range strs(t, "event") {
				l, h, ok := dateRange(e)
				if !ok {
					continue
				}
				if lo.IsZero() || l.Before(lo) {
					lo = l
				}
				if hi.IsZero() || h.After(hi) {
					hi = h
				}
			}
			if !lo.IsZero() {
				add(lo, hi)
			} else if rep, ok := t["repeat"].(map[string]any); ok {
				if bp, ok := rep["boundsPeriod"].(map[string]any); ok {
					if lo, hi, ok := periodRange(bp); ok {
						add(lo, hi)
					}
				}
			}
		}
	}
}

// periodRange is a Period's range; a missing end is open (MinTime, MaxTime).
func periodRange(m map[string]any) (lo, hi time.Time, ok bool) {
	lo, hi = store.MinTime, store.MaxTime
	s, e := resource.Str(m, "start"), resource.Str(m, "end")
	if s == "" && e == "" {
		return lo, hi, false
	}
	if s != "" {
		l, _, ok := dateRange(s)
		if !ok {
			return lo, hi, false
		}
		lo = l
	}
	if e != "" {
		_, h, ok := dateRange(e)
		if !ok {
			return lo, hi, false
		}
		hi = h
	}
	return lo, hi, true
}

// reference indexes a reference value (R4 search.html#reference).
func (x *extractor) reference(p *Param, typ string, v any) {
	e := store.Entry{Param: p.Code, Type: store.Reference}
	switch t := v.(type) {
	case string:
		// canonical, uri, url: an absolute reference by URL.
		if t == "" || strings.HasPrefix(t, "#") {
			return
		}
		// A canonical's version is dropped: searches match any version.
		t = stripVersion(t)
		if !x.local(&e, t) {
			if !strings.Contains(t, ":") {
				return // neither local nor absolute: not a reference
			}
			e.URL = t
		}
		x.out = append(x.out, e)
		return
	case map[string]any:
		if typ == "Resource" || t["resourceType"] != nil {
			// A resource found by the expression (Bundle.entry[0].resource).
			rt, id := resource.Str(t, "resourceType"), resource.Str(t, "id")
			if rt == "" || id == "" {
				return
			}
			e.RefType, e.RefID = rt, id
			x.out = append(x.out, e)
			return
		}
		ref := resource.Str(t, "reference")
		if strings.HasPrefix(ref, "#") {
			return // contained: not searchable from outside the resource
		}
		if ref != "" && !x.local(&e, ref) {
			e.URL = ref
		}
		if id, ok := t["identifier"].(map[string]any); ok {
			e.System, e.Code = resource.Str(id, "system"), resource.Str(id, "value")
		}
		if e.RefType == "" && e.URL == "" && e.Code == "" && e.System == "" {
			return
		}
		if e.RefType == "" && e.URL == "" {
			// Only an identifier: keep the declared or the single possible type.
			e.RefType = resource.Str(t, "type")
			if e.RefType == "" && len(p.Target) == 1 {
				e.RefType = p.Target[0]
			}
		}
		x.out = append(x.out, e)
	}
}

// local fills e.RefType/RefID when ref is a local reference: relative
// "Type/id" (optionally "/_history/n"), or absolute under our base URL. It
// reports whether it was.
func (x *extractor) local(e *store.Entry, ref string) bool {
	typ, id, ok := localRef(x.base, ref)
	if ok {
		e.RefType, e.RefID = typ, id
	}
	return ok
}

// localRef splits a local reference into type and id: "Patient/1",
// "Patient/1/_history/2", or "<base>/Patient/1" when base is set.
func localRef(base, ref string) (typ, id string, ok bool) {
	if strings.Contains(ref, ":") {
		if base == "" || !strings.HasPrefix(ref, base+"/") {
			return "", "", false
		}
		ref = ref[len(base)+1:]
	}
	parts := strings.Split(ref, "/")
	if len(parts) != 2 && !(len(parts) == 4 && parts[2] == "_history") {
		return "", "", false
	}
	typ, id = parts[0], parts[1]
	if typ == "" || id == "" || typ[0] < 'A' || typ[0] > 'Z' {
		return "", "", false
	}
	return typ, id, true
}

// stripVersion drops the "|version" of a canonical URL: searches match the
// canonical whatever its version.
func stripVersion(u string) string {
	if i := strings.IndexByte(u, '|'); i >= 0 {
		return u[:i]
	}
	return u
}

// canonical fills in the canonical UCUM form of a quantity entry, when its
// unit has one (see ucum.go).
func canonical(e *store.Entry) {
	if e.Type != store.Quantity {
		return
	}
	if c, v, lo, hi, ok := canonicalQuantity(e.System, e.Code, e.Num, e.NumLow, e.NumHigh); ok {
		e.CanonCode, e.CanonNum, e.CanonLow, e.CanonHigh = c, v, lo, hi
	}
}

// quantity indexes a number or quantity value (R4 search.html#number,
// #quantity) with its implicit precision range.
func (x *extractor) quantity(p *Param, typ string, v any) {
	num := func(n any) (decimal, bool) {
		switch t := n.(type) {
		case json.Number:
			return parseDecimal(t.String())
		case string:
			return parseDecimal(t)
		case int64:
			return parseDecimal(fmt.Sprint(t))
		case float64:
			return decimal{v: t, lo: t, hi: t}, true
		}
		return decimal{}, false
	}
	add := func(d decimal, system, code string) {
		e := store.Entry{Param: p.Code, Type: p.Type, Num: d.v, NumLow: d.lo, NumHigh: d.hi, System: system, Code: code}
		canonical(&e)
		x.out = append(x.out, e)
	}
	m, ok := v.(map[string]any)
	if !ok {
		if d, ok := num(v); ok {
			add(d, "", "")
		}
		return
	}
	switch typ {
	case "Range":
		// The range's own bounds, each end at its precision; an open end
		// is unbounded.
		lo, hi := maps(m["low"]), maps(m["high"])
		e := store.Entry{Param: p.Code, Type: p.Type, NumLow: negInf, NumHigh: posInf}
		var unit map[string]any
		if len(lo) > 0 {
			if d, ok := num(lo[0]["value"]); ok {
				e.NumLow, e.Num = d.lo, d.v
				unit = lo[0]
			}
		}
		if len(hi) > 0 {
			if d, ok := num(hi[0]["value"]); ok {
				e.NumHigh = d.hi
				if unit == nil {
					e.Num, unit = d.v, hi[0]
				}
			}
		}
		if unit == nil {
			return
		}
		e.System, e.Code = resource.Str(unit, "system"), resource.Str(unit, "code")
		if e.Code == "" {
			e.Code = resource.Str(unit, "unit")
		}
		canonical(&e)
		x.out = append(x.out, e)
	case "SampledData":
		// Not indexed: its data is a series, not a value.
	default: // Quantity and its profiles (Age, Duration, …), Money
		d, ok := num(m["value"])
		if !ok {
			return
		}
		system, code, unit := resource.Str(m, "system"), resource.Str(m, "code"), resource.Str(m, "unit")
		if typ == "Money" {
			system, code = "urn:iso:std:iso:4217", resource.Str(m, "currency")
		}
		if code == "" {
			code = unit
		}
		add(d, system, code)
		// "5.4||mg" matches the code or the unit: index the unit too
		// when it differs from the code.
		if unit != "" && unit != code {
			add(d, "", unit)
		}
	}
}
