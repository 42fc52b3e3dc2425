package validate

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"ucp/fhir/fhirpath"
)

// invariantDef is a constraint as the generator writes it.
type invariantDef struct {
	Key, Severity, Path, Human, Expression string
}

// invariant is a compiled constraint.
type invariant struct {
	key, severity, human string
	expr                 *fhirpath.Expression
	// viaRoot is the expression wrapped as %focus.select(…), evaluated with
	// the resource as root, for expressions that call resolve(): the engine
	// looks for "#id" references (and Bundle entries) in the root of the
	// evaluation, so evaluating on the element itself would not find the
	// resource's contained resources.
	viaRoot *fhirpath.Expression
	// mayFail, when set, is a cheap test that must be true for the constraint
	// to be able to fail on a node; see guards.
	mayFail func(node map[string]any) bool
}

// guards short-cut frequent core constraints that can only fail when
// certain elements are present: they run on every Reference, Period,
// Quantity and resource, and evaluating them on nodes where they hold
// vacuously was most of the validation time. Each guard is implied by the
// expression (the table tests include a failing case for each).
var guards = map[string]func(m map[string]any) bool{
	// contained.contained.empty(), contained.meta…empty()
	"dom-2": has("contained"), "dom-4": has("contained"), "dom-5": has("contained"),
	// reference.startsWith('#').not() or (… in %rootResource.contained.id)
	"ref-1": func(m map[string]any) bool {
		r, _ := m["reference"].(string)
		return len(r) > 0 && r[0] == '#'
	},
	// start.hasValue().not() or end.hasValue().not() or (start <= end)
	"per-1": hasAll("start", "end"),
	// code.empty() or system.exists()
	"qty-3": has("code"),
	// comparator.empty()
	"sqty-1": has("comparator"),
	// detail.empty() or reference.empty()
	"cpl-3": hasAll("detail", "reference"),
}

func has(k string) func(map[string]any) bool {
	return func(m map[string]any) bool { _, ok := m[k]; return ok }
}

func hasAll(ks ...string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		for _, k := range ks {
			if _, ok := m[k]; !ok {
				return false
			}
		}
		return true
	}
}

// corrections replaces core expressions that are wrong in the published R4
// definitions, each with the reason. Both are fixed the same way in R5.
var corrections = map[string]string{
	// que-7 tests `answer is Boolean`: a FHIR boolean is not the FHIRPath
	// System.Boolean, so the published expression fails every valid
	// enableWhen with operator 'exists' (R5 says `answer is boolean`).
	"que-7": "operator = 'exists' implies (answer is boolean)",
}

func compileInvariant(key, severity, human, expr string) (*invariant, error) {
	e, err := fhirpath.Compile(expr)
	if err != nil {
		return nil, err
	}
	inv := &invariant{key: key, severity: severity, human: human, expr: e}
	if strings.Contains(expr, "resolve()") {
		if inv.viaRoot, err = fhirpath.Compile("%focus.select(" + expr + ")"); err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// SkippedInvariant is a core constraint that is not evaluated, with the
// reason.
type SkippedInvariant struct {
	Key, Path, Expression, Reason string
}

// natively lists the core constraints checked in Go rather than through the
// FHIRPath engine. ele-1 ("hasValue() or (children().count() > id.count())")
// applies to every element of every resource: checking it in the tree walk
// costs nothing, whereas evaluating it would cost one FHIRPath run per
// element and needs primitive items with their extensions.
//
// dom-3 (every contained resource is referenced from the rest of the
// resource, or references it with "#") is written with four
// %resource.descendants() scans per contained resource, which alone cost
// more than the rest of a CarePlan's validation; Go collects the "#…"
// strings in one walk instead (see checkContainedReferenced).
var natively = map[string]string{
	"ele-1": "checked natively by the structure walk (empty objects, null primitives without extensions)",
	"dom-3": "checked natively in one walk of the resource (the FHIRPath form scans all descendants four times per contained resource)",
}

// dom3Human is dom-3's text, for the native check's message.
var dom3Human = func() string {
	for _, d := range coreInvariants {
		if d.Key == "dom-3" {
			return d.Human
		}
	}
	return "contained resources must be referenced"
}()

// checkContainedReferenced is dom-3: each contained resource must be
// referenced ("#id") from elsewhere in the resource, including from other
// contained resources, or must itself refer to its container ("#"). Any
// string value equal to "#id" counts as a reference, which covers
// Reference.reference, canonical and uri elements alike.
func (w *walker) checkContainedReferenced(res map[string]any, loc *path) {
	cont, _ := res["contained"].([]any)
	if len(cont) == 0 {
		return
	}
	// One walk over the resource, noting for each contained resource whether
	// something other than itself refers to it, or it refers to its
	// container ("#"). Resources have few contained resources, so slices
	// beat maps here.
	r := localRefs{ids: make([]string, len(cont)), ok: make([]bool, len(cont))}
	for i, c := range cont {
		if m, isMap := c.(map[string]any); isMap {
			r.ids[i], _ = m["id"].(string)
		}
	}
	for k, v := range res {
		if k != "contained" {
			r.walk(v, -1)
		}
	}
	for i, c := range cont {
		r.walk(c, i)
	}
	for i, c := range cont {
		if _, isMap := c.(map[string]any); isMap && !r.ok[i] {
			w.errorf(CodeInvariant, loc, "dom-3: "+dom3Human+" (contained["+strconv.Itoa(i)+"] is not referenced)")
		}
	}
}

type localRefs struct {
	ids []string
	ok  []bool
}

// walk visits the string values under v, which lies in contained resource
// src (-1: outside the contained resources).
func (r *localRefs) walk(v any, src int) {
	switch x := v.(type) {
	case string:
		if len(x) == 0 || x[0] != '#' {
			return
		}
		if x == "#" {
			if src >= 0 {
				r.ok[src] = true
			}
			return
		}
		for j, id := range r.ids {
			if j != src && id != "" && id == x[1:] {
				r.ok[j] = true
			}
		}
	case map[string]any:
		for _, c := range x {
			r.walk(c, src)
		}
	case []any:
		for _, c := range x {
			r.walk(c, src)
		}
	}
}

// coreTable is the generated core rules, compiled: the invariants by element
// path and the codes of each required binding's value set. It is built once
// from generated data and never changed, so every Validator shares it.
type coreTable struct {
	byPath  map[string][]*invariant
	skipped []SkippedInvariant
	codes   map[string]map[string]bool // value set URL → its codes
}

// core compiles the generated core invariants, recording those checked
// natively or that the engine cannot compile.
var core = sync.OnceValue(func() *coreTable {
	c := &coreTable{byPath: map[string][]*invariant{}, codes: map[string]map[string]bool{}}
	for _, d := range coreInvariants {
		if why, ok := natively[d.Key]; ok {
			c.skipped = append(c.skipped, SkippedInvariant{d.Key, d.Path, d.Expression, why})
			continue
		}
		expr := d.Expression
		if fix, ok := corrections[d.Key]; ok {
			expr = fix
		}
		inv, err := compileInvariant(d.Key, d.Severity, d.Human, expr)
		if err != nil {
			c.skipped = append(c.skipped, SkippedInvariant{d.Key, d.Path, d.Expression, "does not compile: " + err.Error()})
			continue
		}
		if expr == d.Expression {
			inv.mayFail = guards[d.Key]
		}
		c.byPath[d.Path] = append(c.byPath[d.Path], inv)
	}
	for _, vs := range requiredBindings {
		set := make(map[string]bool, len(coreValueSets[vs]))
		for _, code := range coreValueSets[vs] {
			set[code.Code] = true
		}
		c.codes[vs] = set
	}
	return c
})

// SkippedCoreInvariants lists the core constraints that the validator does
// not evaluate with FHIRPath, and why (checked natively, or the engine cannot
// compile them).
func SkippedCoreInvariants() []SkippedInvariant {
	return append([]SkippedInvariant(nil), core().skipped...)
}

// invariants evaluates constraints on one node. A constraint passes when it
// evaluates to true or to empty (nothing to test); false fails with the
// constraint's severity. An evaluation error is reported as a warning,
// because the data may well be valid and the failure is the engine's.
func (w *walker) invariants(invs []*invariant, node any, typ string, loc fmt.Stringer, env *fhirpath.Env) {
	if len(invs) == 0 {
		return
	}
	nodeMap, _ := node.(map[string]any)
	var focus, res fhirpath.Item
	atRoot, started := false, false
	for _, inv := range invs {
		if inv.key == "dom-6" && w.contained > 0 {
			continue
		}
		if inv.mayFail != nil && nodeMap != nil && !inv.mayFail(nodeMap) {
			continue
		}
		if !started {
			started = true
			focus = fhirpath.NewItem(node, typ)
			res = env.Vars["resource"][0]
			if m, ok := res.Data().(map[string]any); ok && len(m) > 0 && len(nodeMap) > 0 {
				atRoot = sameMap(m, nodeMap)
			}
		}
		var out fhirpath.Collection
		var err error
		if inv.viaRoot != nil && !atRoot {
			env.Vars["focus"] = fhirpath.Collection{focus}
			out, err = inv.viaRoot.EvaluateOn(res, env)
		} else {
			out, err = inv.expr.EvaluateOn(focus, env)
		}
		if err != nil {
			w.add(SeverityWarning, CodeProcessing, loc.String(), inv.key+": constraint could not be evaluated: "+err.Error())
			continue
		}
		if len(out) == 1 {
			if b, ok := out[0].Data().(bool); ok && !b {
				sev := inv.severity
				if sev != SeverityWarning && sev != SeverityInformation {
					sev = SeverityError
				}
				w.add(sev, CodeInvariant, loc.String(), inv.key+": "+inv.human)
			}
		}
	}
}

// sameMap reports whether a and b are the same map (not equal contents).
func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
