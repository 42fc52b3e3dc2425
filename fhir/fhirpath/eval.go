package fhirpath

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"

	"ucp/fhir/model"
)

// System type names of computed values.
const (
	tBoolean  = "System.Boolean"
	tString_  = "System.String"
	tInteger  = "System.Integer"
	tLong_    = "System.Long"
	tDecimal  = "System.Decimal"
	tDate     = "System.Date"
	tDateTime = "System.DateTime"
	tTime     = "System.Time"
	tQuantity = "System.Quantity"
)

// EvalError is an error raised while evaluating an expression (a function
// called on a collection of more than one item, an unknown variable, a type
// error …).
type EvalError struct{ Msg string }

func (e *EvalError) Error() string { return "fhirpath: " + e.Msg }

func errf(format string, a ...any) error { return &EvalError{Msg: fmt.Sprintf(format, a...)} }

type node interface {
	eval(c *evalCtx, focus Collection) (Collection, error)
}

type evalCtx struct {
	env      *Env
	resource Collection // %resource
	root     Collection // %rootResource
	context  Collection // %context
	this     Collection // $this (the focus of the innermost iteration or the input)
	index    int
	total    Collection
	hasTotal bool
	depth    int
	buf      [1]Item // backing store of the input collection
}

func (c *evalCtx) strict() bool { return c.env != nil && c.env.Strict }

// ---- items ----

func boolItem(b bool) Item    { return Item{v: b, typ: tBoolean} }
func strItem(s string) Item   { return Item{v: s, typ: tString_} }
func intItem(n int64) Item    { return Item{v: n, typ: tInteger} }
func decItem(d Decimal) Item  { return Item{v: d, typ: tDecimal} }
func qtyItem(q Quantity) Item { return Item{v: q, typ: tQuantity} }

// boolColl returns a shared one-item collection; results are never mutated
// in place (EvaluateOn copies them before returning to the caller).
func boolColl(b bool) Collection {
	if b {
		return trueColl
	}
	return falseColl
}

var (
	trueColl  = Collection{{v: true, typ: tBoolean}}
	falseColl = Collection{{v: false, typ: tBoolean}}
)

func temporalItem(t Temporal) Item {
	switch t.Kind {
	case KindDate:
		return Item{v: t, typ: tDate}
	case KindTime:
		return Item{v: t, typ: tTime}
	}
	return Item{v: t, typ: tDateTime}
}

// NewItem wraps a node of a resource tree (or any JSON value) with its FHIR
// type name, for EvaluateOn. typeName may be "" to infer it (resources are
// typed by resourceType).
func NewItem(data any, typeName string) Item {
	if typeName == "" || typeName == "Resource" || typeName == "DomainResource" {
		if m, ok := data.(map[string]any); ok {
			if rt, ok := m["resourceType"].(string); ok {
				typeName = rt
			}
		}
	}
	return Item{v: data, typ: typeName}
}

// sys returns the System value of an item: bool, string, int64, Decimal,
// Temporal, Quantity, or the JSON map of a complex node.
func (it Item) sys() any {
	switch v := it.v.(type) {
	case string:
		switch it.typ {
		case "date", "dateTime", "instant":
			if t, ok := parseDateTime(v); ok {
				if it.typ != "date" && t.Kind == KindDate {
					t.Kind = KindDateTime
				}
				return t
			}
		case "time":
			if t, ok := parseTime(v); ok {
				return t
			}
		}
		return v
	case json.Number:
		s := string(v)
		switch it.typ {
		case "integer", "positiveInt", "unsignedInt", "integer64":
			if n, err := v.Int64(); err == nil {
				return n
			}
		case "decimal":
		default:
			if !strings.ContainsAny(s, ".eE") {
				if n, err := v.Int64(); err == nil {
					return n
				}
			}
		}
		d, err := ParseDecimal(s)
		if err != nil {
			return s
		}
		return d
	case map[string]any:
		if it.typ != "" && model.IsA(it.typ, "Quantity") {
			if q, ok := quantityFromMap(v); ok {
				return q
			}
		}
		return v
	}
	return it.v
}

func quantityFromMap(m map[string]any) (Quantity, bool) {
	n, ok := m["value"].(json.Number)
	if !ok {
		return Quantity{}, false
	}
	d, err := ParseDecimal(string(n))
	if err != nil {
		return Quantity{}, false
	}
	unit, _ := m["code"].(string)
	sys, _ := m["system"].(string)
	if unit == "" || (sys != "" && sys != "http://unitsofmeasure.org") {
		if u, ok := m["unit"].(string); ok {
			unit = u
		}
	}
	if unit == "" {
		unit = "1"
	}
	return Quantity{Value: d, Unit: unit}, true
}

// systemType returns the System type name for the item's value.
func (it Item) systemType() string {
	switch v := it.sys().(type) {
	case bool:
		return tBoolean
	case string:
		return tString_
	case int64:
		if it.typ == tLong_ {
			return tLong_
		}
		return tInteger
	case Decimal:
		return tDecimal
	case Temporal:
		return temporalItem(v).typ
	case Quantity:
		return tQuantity
	}
	return ""
}

// ---- navigation ----

func extAt(ext any, i int) map[string]any {
	switch e := ext.(type) {
	case []any:
		if i < len(e) {
			m, _ := e[i].(map[string]any)
			return m
		}
	case map[string]any:
		if i == 0 {
			return e
		}
	}
	return nil
}

func typed(v any, typ string, ext map[string]any) Item {
	if m, ok := v.(map[string]any); ok && (typ == "" || typ == "Resource" || typ == "DomainResource") {
		if rt, ok := m["resourceType"].(string); ok {
			typ = rt
		}
	}
	return Item{v: v, typ: typ, ext: ext}
}

func appendValues(out Collection, val any, hasVal bool, ext any, typ string) Collection {
	if hasVal {
		if arr, ok := val.([]any); ok {
			out = slices.Grow(out, len(arr))
			for i, x := range arr {
				e := extAt(ext, i)
				if x == nil && e == nil {
					continue
				}
				out = append(out, typed(x, typ, e))
			}
			if ea, ok := ext.([]any); ok {
				for i := len(arr); i < len(ea); i++ {
					if e, ok := ea[i].(map[string]any); ok {
						out = append(out, Item{typ: typ, ext: e})
					}
				}
			}
			return out
		}
		if val == nil && ext == nil {
			return out
		}
		return append(out, typed(val, typ, extAt(ext, 0)))
	}
	switch e := ext.(type) {
	case []any:
		for _, x := range e {
			if m, ok := x.(map[string]any); ok {
				out = append(out, Item{typ: typ, ext: m})
			}
		}
	case map[string]any:
		out = append(out, Item{typ: typ, ext: e})
	}
	return out
}

// inferType guesses the FHIR type of a JSON value of an element the model
// does not know.
func inferType(v any) string {
	switch x := v.(type) {
	case map[string]any:
		if rt, ok := x["resourceType"].(string); ok {
			return rt
		}
	case []any:
		if len(x) > 0 {
			return inferType(x[0])
		}
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return "decimal"
		}
		return "integer"
	}
	return ""
}

// child appends the items of element name of it to out. known reports
// whether name is an element of it's type (true when the type is unknown).
func (c *evalCtx) child(out Collection, it Item, name string) (Collection, bool) {
	return c.childCached(out, it, name, nil)
}

// memberCache remembers the element found for the last type seen by a
// member node, saving the model's map look-ups on the hot path.
type memberCache struct {
	typ string
	ti  *model.TypeInfo
	e   *model.ElementInfo
}

func (c *evalCtx) childCached(out Collection, it Item, name string, cache *atomic.Pointer[memberCache]) (Collection, bool) {
	m, ok := it.v.(map[string]any)
	if !ok {
		if it.ext != nil || model.IsPrimitive(it.typ) {
			if name == "extension" || name == "id" {
				t := "Extension"
				if name == "id" {
					t = "string"
				}
				v, has := it.ext[name]
				return appendValues(out, v, has, nil, t), true
			}
		}
		return out, it.typ == "" && it.v == nil
	}
	var ti *model.TypeInfo
	var e *model.ElementInfo
	if cache != nil {
		if mc := cache.Load(); mc != nil && mc.typ == it.typ {
			ti, e = mc.ti, mc.e
		} else {
			ti = model.Type(it.typ)
			e = ti.Element(name)
			cache.Store(&memberCache{typ: it.typ, ti: ti, e: e})
		}
	} else {
		ti = model.Type(it.typ)
		e = ti.Element(name)
	}
	if ti != nil {
		if e != nil {
			for k, jn := range e.JSONNames {
				v, has := m[jn]
				var ext any
				hasExt := false
				if en := e.ExtNames[k]; en != "" {
					ext, hasExt = m[en]
				}
				if has || hasExt {
					out = appendValues(out, v, has, ext, e.Types[k])
				}
			}
			return out, true
		}
		if c.strict() {
			return out, false
		}
		if e, typ := ti.ElementByJSONName(name); e != nil {
			v, has := m[name]
			ext, hasExt := m["_"+name]
			if has || hasExt {
				out = appendValues(out, v, has, ext, typ)
			}
			return out, false
		}
	}
	v, has := m[name]
	ext, hasExt := m["_"+name]
	if !has && !hasExt {
		return out, model.Type(it.typ) == nil
	}
	return appendValues(out, v, has, ext, inferType(v)), true
}

// member navigates name on every item of focus. In strict mode it is an
// error when no item's type defines the element.
func (c *evalCtx) member(focus Collection, name string, cache *atomic.Pointer[memberCache]) (Collection, error) {
	var out Collection
	if len(focus) > 1 {
		// Size the result once: growing it item by item was most of the
		// allocations of paths like Patient.name.given. (Choice elements
		// are not counted here; they grow as before.)
		n := 0
		for _, it := range focus {
			if m, ok := it.v.(map[string]any); ok {
				switch v := m[name].(type) {
				case []any:
					n += len(v)
				case nil:
				default:
					n++
				}
			}
		}
		out = make(Collection, 0, n)
	}
	anyKnown := false
	for _, it := range focus {
		var known bool
		out, known = c.childCached(out, it, name, cache)
		anyKnown = anyKnown || known
	}
	if !anyKnown && len(focus) > 0 && c.strict() {
		return nil, errf("%s has no element %q", typeLabel(focus[0]), name)
	}
	return out, nil
}

// children appends all child items of it, in model order when its type is known.
func (c *evalCtx) children(out Collection, it Item) Collection {
	m, ok := it.v.(map[string]any)
	if !ok {
		if it.ext != nil {
			out, _ = c.child(out, it, "extension")
		}
		return out
	}

	if ti := model.Type(it.typ); ti != nil {
		for i := range ti.Elements {
			e := &ti.Elements[i]
			for k, jn := range e.JSONNames {
				v, has := m[jn]
				var ext any
				hasExt := false
				if en := e.ExtNames[k]; en != "" {
					ext, hasExt = m[en]
				}
				if has || hasExt {
					out = appendValues(out, v, has, ext, e.Types[k])
				}
			}
		}
		return out
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k == "resourceType" {
			continue
		}
		if strings.HasPrefix(k, "_") {
			if _, ok := m[k[1:]]; ok {
				continue
			}
			k = k[1:]
		}
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		v, has := m[k]
		out = appendValues(out, v, has, m["_"+k], inferType(v))
	}
	return out
}

// ---- nodes ----

type literalNode struct{ c Collection }

func (n *literalNode) eval(*evalCtx, Collection) (Collection, error) { return n.c, nil }

type memberNode struct {
	name  string
	cache atomic.Pointer[memberCache]
}

func (n *memberNode) eval(c *evalCtx, focus Collection) (Collection, error) {
	first := n.name[0] >= 'A' && n.name[0] <= 'Z'
	if !first {
		return c.member(focus, n.name, &n.cache)
	}
	if len(focus) == 1 && focus[0].typ == n.name {
		return focus, nil // the common Patient.… on a Patient
	}
	var out Collection
	for i, it := range focus {
		if first {
			// A type name at the start of a path selects the focus if it is of that type.
			if it.typ != "" && model.IsA(it.typ, n.name) {
				out = append(out, it)
				continue
			}
			if model.IsResource(n.name) {
				if c.strict() && it.typ != "" && model.IsResource(it.typ) {
					return nil, errf("expression is for %s but the context is %s", n.name, it.typ)
				}
				continue
			}
		}
		r, err := c.member(focus[i:i+1:i+1], n.name, &n.cache)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}

type pathNode struct{ left, right node }

func (n *pathNode) eval(c *evalCtx, focus Collection) (Collection, error) {
	l, err := n.left.eval(c, focus)
	if err != nil {
		return nil, err
	}
	if m, ok := n.right.(*memberNode); ok {
		// member access after a dot never matches a type name
		return c.member(l, m.name, &m.cache)
	}
	return n.right.eval(c, l)
}

type indexNode struct{ x, idx node }

func (n *indexNode) eval(c *evalCtx, focus Collection) (Collection, error) {
	x, err := n.x.eval(c, focus)
	if err != nil {
		return nil, err
	}
	ic, err := n.idx.eval(c, c.this)
	if err != nil {
		return nil, err
	}
	if len(ic) == 0 {
		return nil, nil
	}
	i, ok := toInt(ic)
	if !ok {
		return nil, errf("index must be an integer")
	}
	if i < 0 || i >= int64(len(x)) {
		return nil, nil
	}
	return Collection{x[i]}, nil
}

type dollarNode struct{ name string }

func (n *dollarNode) eval(c *evalCtx, focus Collection) (Collection, error) {
	switch n.name {
	case "this":
		return c.this, nil
	case "index":
		return Collection{intItem(int64(c.index))}, nil
	case "total":
		if !c.hasTotal {
			return nil, errf("$total used outside aggregate()")
		}
		return c.total, nil
	}
	return nil, nil
}

type varNode struct{ name string }

func (n *varNode) eval(c *evalCtx, focus Collection) (Collection, error) {
	if c.env != nil && c.env.Vars != nil {
		if v, ok := c.env.Vars[n.name]; ok {
			return v, nil
		}
	}
	switch n.name {
	case "resource":
		return c.resource, nil
	case "rootResource":
		return c.root, nil
	case "context":
		return c.context, nil
	case "ucum":
		return Collection{strItem("http://unitsofmeasure.org")}, nil
	case "sct":
		return Collection{strItem("http://snomed.info/sct")}, nil
	case "loinc":
		return Collection{strItem("http://loinc.org")}, nil
	}
	if s, ok := strings.CutPrefix(n.name, "vs-"); ok {
		return Collection{strItem("http://hl7.org/fhir/ValueSet/" + s)}, nil
	}
	if s, ok := strings.CutPrefix(n.name, "ext-"); ok {
		return Collection{strItem("http://hl7.org/fhir/StructureDefinition/" + s)}, nil
	}
	return nil, errf("undefined variable %%%s", n.name)
}

type negNode struct{ x node }

func (n *negNode) eval(c *evalCtx, focus Collection) (Collection, error) {
	x, err := n.x.eval(c, focus)
	if err != nil || len(x) == 0 {
		return nil, err
	}
	if len(x) > 1 {
		return nil, errf("unary minus on a collection of %d items", len(x))
	}
	v, ok := negate(x[0])
	if !ok {
		return nil, errf("cannot negate %s", x[0].typ)
	}
	return Collection{v}, nil
}

func negate(it Item) (Item, bool) {
	switch v := it.sys().(type) {
	case int64:
		return Item{v: -v, typ: it.systemType()}, true
	case Decimal:
		return decItem(v.Neg()), true
	case Quantity:
		return qtyItem(Quantity{v.Value.Neg(), v.Unit}), true
	}
	return Item{}, false
}

// ---- types ----

type typeSpec struct {
	ns, name string // ns: "System", "FHIR" or ""
}

func newTypeSpec(s string) typeSpec {
	if ns, name, ok := strings.Cut(s, "."); ok && (ns == "System" || ns == "FHIR") {
		return typeSpec{ns: ns, name: name}
	}
	return typeSpec{name: s}
}

func (ts typeSpec) String() string {
	if ts.ns != "" {
		return ts.ns + "." + ts.name
	}
	return ts.name
}

var systemTypes = map[string]bool{"Boolean": true, "String": true, "Integer": true, "Long": true, "Decimal": true,
	"Date": true, "DateTime": true, "Time": true, "Quantity": true, "Any": true}

// valid reports whether the type is known (System or FHIR).
func (ts typeSpec) valid() bool {
	switch ts.ns {
	case "System":
		return true // an unknown System type matches nothing
	case "FHIR":
		return model.Type(ts.name) != nil
	}
	return systemTypes[ts.name] || model.Type(ts.name) != nil
}

// matches implements `is`: the item is of the type or a subtype.
func (ts typeSpec) matches(it Item) bool { return ts.match(it, false) }

// matchesExact implements `as` and ofType(): like matches, but a FHIR
// primitive must be exactly the type (code.as(string) is empty, while
// code.is(string) is true), as the official suite expects.
func (ts typeSpec) matchesExact(it Item) bool { return ts.match(it, true) }

func (ts typeSpec) match(it Item, exact bool) bool {
	if strings.HasPrefix(it.typ, "System.") {
		if ts.ns == "FHIR" {
			return false
		}
		if ts.name == "Any" {
			return true
		}
		return it.typ[7:] == ts.name
	}
	if it.typ == "" {
		// unknown node: compare its System type
		if ts.ns == "FHIR" {
			return false
		}
		st := it.systemType()
		return st != "" && st[7:] == ts.name
	}
	if ts.ns == "System" {
		return false
	}
	if exact && model.IsPrimitive(it.typ) {
		return it.typ == ts.name
	}
	return model.IsA(it.typ, ts.name)
}

type typeOpNode struct {
	op string // "is" or "as"
	x  node
	ts typeSpec
}

func (n *typeOpNode) eval(c *evalCtx, focus Collection) (Collection, error) {
	if f, ok := n.x.(*funcNode); ok && f.name == "resolve" && n.op == "is" && len(focus) == 1 {
		// `resolve() is Patient` on a literal reference: the type is in the
		// reference itself, no need to build the resolved resource.
		if typ, ok := c.referenceType(focus[0]); ok {
			return boolColl(n.ts.matches(Item{typ: typ})), nil
		}
	}
	x, err := n.x.eval(c, focus)
	if err != nil {
		return nil, err
	}
	return typeOp(c, n.op, x, n.ts)
}

func typeOp(c *evalCtx, op string, x Collection, ts typeSpec) (Collection, error) {
	if len(x) == 0 {
		return nil, nil
	}
	if len(x) > 1 {
		if op == "as" && !c.strict() {
			var out Collection
			for _, it := range x {
				if ts.matchesExact(it) {
					out = append(out, it)
				}
			}
			return out, nil
		}
		return nil, errf("'%s' on a collection of %d items", op, len(x))
	}
	m := ts.matches(x[0])
	if op == "as" {
		m = ts.matchesExact(x[0])
	}
	if op == "is" {
		return boolColl(m), nil
	}
	if m {
		return x, nil
	}
	return nil, nil
}

// ---- conversions ----

// toBool applies singleton evaluation for a Boolean-expecting context:
// empty → (false, false); a Boolean item → its value; another single item → true.
func toBool(x Collection) (val, ok bool, err error) {
	if len(x) == 0 {
		return false, false, nil
	}
	if len(x) > 1 {
		return false, false, errf("expected a single Boolean, got a collection of %d items", len(x))
	}
	if b, ok := x[0].sys().(bool); ok {
		return b, true, nil
	}
	return true, true, nil
}

func toInt(x Collection) (int64, bool) {
	if len(x) != 1 {
		return 0, false
	}
	n, ok := x[0].sys().(int64)
	return n, ok
}

func toStringVal(x Collection) (string, bool, error) {
	if len(x) == 0 {
		return "", false, nil
	}
	if len(x) > 1 {
		return "", false, errf("expected a single String, got %d items", len(x))
	}
	s, ok := x[0].sys().(string)
	if !ok {
		return "", false, errf("expected a String, got %s", x[0].typ)
	}
	return s, true, nil
}

func toDecimal(v any) (Decimal, bool) {
	switch v := v.(type) {
	case int64:
		return DecimalFromInt(v), true
	case Decimal:
		return v, true
	}
	return Decimal{}, false
}

// ---- equality ----

// equalItems returns (equal, known).
func equalItems(a, b Item) (bool, bool) {
	if sa, ok := a.v.(string); ok && !isTemporalType(a.typ) {
		if sb, ok := b.v.(string); ok && !isTemporalType(b.typ) {
			return sa == sb, true
		}
	}
	va, vb := a.sys(), b.sys()
	switch x := va.(type) {
	case string:
		y, ok := vb.(string)
		return ok && x == y, true
	case bool:
		y, ok := vb.(bool)
		return ok && x == y, true
	case int64:
		switch y := vb.(type) {
		case int64:
			return x == y, true
		case Decimal:
			return DecimalFromInt(x).Cmp(y) == 0, true
		case Quantity:
			return equalItems(qtyItem(Quantity{DecimalFromInt(x), "1"}), b)
		}
		return false, true
	case Decimal:
		switch y := vb.(type) {
		case int64:
			return x.Cmp(DecimalFromInt(y)) == 0, true
		case Decimal:
			return x.Cmp(y) == 0, true
		case Quantity:
			return equalItems(qtyItem(Quantity{x, "1"}), b)
		}
		return false, true
	case Temporal:
		y, ok := vb.(Temporal)
		if !ok || (x.Kind == KindTime) != (y.Kind == KindTime) {
			return false, true
		}
		c, known := compareTemporal(x, y)
		return c == 0, known
	case Quantity:
		var y Quantity
		switch v := vb.(type) {
		case Quantity:
			y = v
		case int64:
			y = Quantity{DecimalFromInt(v), "1"}
		case Decimal:
			y = Quantity{v, "1"}
		default:
			return false, true
		}
		c, ok := compareQuantity(x, y)
		if !ok {
			return false, false
		}
		return c == 0, true
	case map[string]any:
		y, ok := vb.(map[string]any)
		return ok && deepEqual(x, y, false), true
	case nil:
		return false, true
	}
	return false, true
}

func isTemporalType(t string) bool {
	switch t {
	case "date", "dateTime", "instant", "time":
		return true
	}
	return false
}

func deepEqual(a, b any, equiv bool) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return false
		}
		n := 0
		for k, v := range x {
			if equiv && k == "id" {
				continue
			}
			w, ok := y[k]
			if !ok || !deepEqual(v, w, equiv) {
				return false
			}
			n++
		}
		m := 0
		for k := range y {
			if !(equiv && k == "id") {
				m++
			}
		}
		return n == m
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !deepEqual(x[i], y[i], equiv) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		d1, e1 := ParseDecimal(string(x))
		d2, e2 := ParseDecimal(string(y))
		if e1 != nil || e2 != nil {
			return x == y
		}
		if equiv {
			return equivDecimal(d1, d2)
		}
		return d1.Cmp(d2) == 0
	case string:
		y, ok := b.(string)
		if equiv && ok {
			return normWS(x) == normWS(y)
		}
		return ok && x == y
	}
	return a == b
}

func normWS(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

func equivItems(a, b Item) bool {
	va, vb := a.sys(), b.sys()
	switch x := va.(type) {
	case string:
		y, ok := vb.(string)
		return ok && normWS(x) == normWS(y)
	case bool:
		y, ok := vb.(bool)
		return ok && x == y
	case int64, Decimal:
		dx, _ := toDecimal(x)
		dy, ok := toDecimal(vb)
		if !ok {
			if q, ok := vb.(Quantity); ok {
				return equivQuantity(Quantity{dx, "1"}, q)
			}
			return false
		}
		return equivDecimal(dx, dy)
	case Temporal:
		y, ok := vb.(Temporal)
		if !ok || min(x.Prec, PrecSecond) != min(y.Prec, PrecSecond) {
			return false
		}
		c, known := compareTemporal(x, y)
		return known && c == 0
	case Quantity:
		switch y := vb.(type) {
		case Quantity:
			return equivQuantity(x, y)
		case int64, Decimal:
			d, _ := toDecimal(y)
			return equivQuantity(x, Quantity{d, "1"})
		}
		return false
	case map[string]any:
		y, ok := vb.(map[string]any)
		return ok && deepEqual(x, y, true)
	}
	return false
}

func equalColl(a, b Collection) (bool, bool) {
	if len(a) == 0 || len(b) == 0 {
		return false, false
	}
	if len(a) != len(b) {
		return false, true
	}
	known := true
	for i := range a {
		eq, ok := equalItems(a[i], b[i])
		if !ok {
			known = false
			continue
		}
		if !eq {
			return false, true
		}
	}
	return true, known
}

func equivColl(a, b Collection) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
outer:
	for _, x := range a {
		for j, y := range b {
			if !used[j] && equivItems(x, y) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

func contains(c Collection, it Item) bool {
	for _, x := range c {
		if eq, ok := equalItems(x, it); ok && eq {
			return true
		}
	}
	return false
}

// compareItems orders two single items; ok false means unknown (empty).
func compareItems(a, b Item) (int, bool, error) {
	va, vb := a.sys(), b.sys()
	switch x := va.(type) {
	case string:
		if y, ok := vb.(string); ok {
			return strings.Compare(x, y), true, nil
		}
	case int64:
		switch y := vb.(type) {
		case int64:
			switch {
			case x < y:
				return -1, true, nil
			case x > y:
				return 1, true, nil
			}
			return 0, true, nil
		case Decimal:
			return DecimalFromInt(x).Cmp(y), true, nil
		case Quantity:
			c, ok := compareQuantity(Quantity{DecimalFromInt(x), "1"}, y)
			return c, ok, nil
		}
	case Decimal:
		switch y := vb.(type) {
		case int64:
			return x.Cmp(DecimalFromInt(y)), true, nil
		case Decimal:
			return x.Cmp(y), true, nil
		case Quantity:
			c, ok := compareQuantity(Quantity{x, "1"}, y)
			return c, ok, nil
		}
	case Temporal:
		if y, ok := vb.(Temporal); ok {
			if (x.Kind == KindTime) != (y.Kind == KindTime) {
				break
			}
			c, ok := compareTemporal(x, y)
			return c, ok, nil
		}
	case Quantity:
		switch y := vb.(type) {
		case Quantity:
			c, ok := compareQuantity(x, y)
			return c, ok, nil
		case int64, Decimal:
			d, _ := toDecimal(y)
			c, ok := compareQuantity(x, Quantity{d, "1"})
			return c, ok, nil
		}
	}
	return 0, false, errf("cannot compare %s with %s", typeLabel(a), typeLabel(b))
}

func typeLabel(it Item) string {
	if it.typ != "" {
		return it.typ
	}
	return it.systemType()
}

// ---- binary operators ----

type binaryNode struct {
	op   string
	l, r node
}

func newBinary(op string, l, r node, pos int, p *parser) (node, error) {
	if op == "|" {
		// A.b.c | A.b.d, the shape of many search parameters
		// (Patient.name.given | Patient.name.family): evaluate A.b once.
		lp, lok := l.(*pathNode)
		rp, rok := r.(*pathNode)
		if lok && rok {
			lm, lmok := lp.right.(*memberNode)
			rm, rmok := rp.right.(*memberNode)
			if lmok && rmok && sameMemberPath(lp.left, rp.left) {
				return &sharedPrefixUnion{prefix: lp.left, l: lm, r: rm}, nil
			}
		}
	}
	return &binaryNode{op: op, l: l, r: r}, nil
}

func (n *binaryNode) eval(c *evalCtx, focus Collection) (Collection, error) {
	switch n.op {
	case "and", "or", "xor", "implies":
		return n.logic(c, focus)
	}
	l, err := n.l.eval(c, focus)
	if err != nil {
		return nil, err
	}
	r, err := n.r.eval(c, focus)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "|":
		return union(l, r), nil
	case "=", "!=":
		eq, ok := equalColl(l, r)
		if !ok {
			return nil, nil
		}
		return boolColl(eq == (n.op == "=")), nil
	case "~", "!~":
		return boolColl(equivColl(l, r) == (n.op == "~")), nil
	case "in", "contains":
		if n.op == "contains" {
			l, r = r, l
		}
		if len(l) == 0 {
			return nil, nil
		}
		if len(l) > 1 {
			return nil, errf("'%s' needs a single item, got %d", n.op, len(l))
		}
		return boolColl(contains(r, l[0])), nil
	case "<", ">", "<=", ">=":
		if len(l) == 0 || len(r) == 0 {
			return nil, nil
		}
		if len(l) > 1 || len(r) > 1 {
			return nil, errf("'%s' needs single items", n.op)
		}
		cmp, ok, err := compareItems(l[0], r[0])
		if err != nil || !ok {
			return nil, err
		}
		var b bool
		switch n.op {
		case "<":
			b = cmp < 0
		case ">":
			b = cmp > 0
		case "<=":
			b = cmp <= 0
		case ">=":
			b = cmp >= 0
		}
		return boolColl(b), nil
	case "&":
		ls, _, err := toStringVal(l)
		if err != nil {
			return nil, err
		}
		rs, _, err := toStringVal(r)
		if err != nil {
			return nil, err
		}
		return Collection{strItem(ls + rs)}, nil
	}
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) > 1 || len(r) > 1 {
		return nil, errf("'%s' needs single items", n.op)
	}
	return arith(n.op, l[0], r[0])
}

func (n *binaryNode) logic(c *evalCtx, focus Collection) (Collection, error) {
	l, err := n.l.eval(c, focus)
	if err != nil {
		return nil, err
	}
	lv, lok, err := toBool(l)
	if err != nil {
		return nil, err
	}
	// short circuits
	switch {
	case n.op == "and" && lok && !lv:
		return boolColl(false), nil
	case n.op == "or" && lok && lv:
		return boolColl(true), nil
	case n.op == "implies" && lok && !lv:
		return boolColl(true), nil
	}
	r, err := n.r.eval(c, focus)
	if err != nil {
		return nil, err
	}
	rv, rok, err := toBool(r)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "and":
		if rok && !rv {
			return boolColl(false), nil
		}
		if lok && rok {
			return boolColl(true), nil
		}
	case "or":
		if rok && rv {
			return boolColl(true), nil
		}
		if lok && rok {
			return boolColl(false), nil
		}
	case "xor":
		if lok && rok {
			return boolColl(lv != rv), nil
		}
	case "implies":
		if lok && lv {
			if rok {
				return boolColl(rv), nil
			}
			return nil, nil
		}
		// left empty
		if rok && rv {
			return boolColl(true), nil
		}
	}
	return nil, nil
}

func union(a, b Collection) Collection {
	out := make(Collection, 0, len(a)+len(b))
	for _, x := range a {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func arith(op string, a, b Item) (Collection, error) {
	va, vb := a.sys(), b.sys()
	if op == "+" {
		if x, ok := va.(string); ok {
			if y, ok := vb.(string); ok {
				return Collection{strItem(x + y)}, nil
			}
		}
	}
	// temporal ± quantity
	if t, ok := va.(Temporal); ok && (op == "+" || op == "-") {
		q, ok := vb.(Quantity)
		if !ok {
			return nil, errf("cannot %s %s and %s", op, typeLabel(a), typeLabel(b))
		}
		sign := 1
		if op == "-" {
			sign = -1
		}
		r, ok := addQuantity(t, q, sign)
		if !ok {
			return nil, errf("cannot add %s to a %s", q, typeLabel(a))
		}
		return Collection{temporalItem(r)}, nil
	}
	xi, xInt := va.(int64)
	yi, yInt := vb.(int64)
	if xInt && yInt {
		var r int64
		switch op {
		case "+":
			r = xi + yi
			if (r > xi) != (yi > 0) {
				return nil, nil
			}
		case "-":
			r = xi - yi
			if (r < xi) != (yi > 0) {
				return nil, nil
			}
		case "*":
			if xi != 0 && (xi*yi)/xi != yi {
				return nil, nil
			}
			r = xi * yi
		case "/":
			d, ok := DecimalFromInt(xi).Div(DecimalFromInt(yi))
			if !ok {
				return nil, nil
			}
			return Collection{decItem(d)}, nil
		case "div":
			if yi == 0 {
				return nil, nil
			}
			r = xi / yi
		case "mod":
			if yi == 0 {
				return nil, nil
			}
			r = xi % yi
		default:
			return nil, errf("unknown operator %s", op)
		}
		if a.systemType() == tInteger && b.systemType() == tInteger && (r > math.MaxInt32 || r < math.MinInt32) {
			return nil, nil
		}
		typ := tInteger
		if a.systemType() == tLong_ || b.systemType() == tLong_ {
			typ = tLong_
		}
		return Collection{{v: r, typ: typ}}, nil
	}
	xd, xNum := toDecimal(va)
	yd, yNum := toDecimal(vb)
	if xNum && yNum {
		switch op {
		case "+":
			return Collection{decItem(xd.Add(yd))}, nil
		case "-":
			return Collection{decItem(xd.Sub(yd))}, nil
		case "*":
			return Collection{decItem(xd.Mul(yd))}, nil
		case "/":
			d, ok := xd.Div(yd)
			if !ok {
				return nil, nil
			}
			return Collection{decItem(d)}, nil
		case "div":
			if yd.Sign() == 0 {
				return nil, nil
			}
			q, _ := xd.Div(yd)
			n, _ := q.Truncate(0).Int64()
			return Collection{intItem(n)}, nil
		case "mod":
			if yd.Sign() == 0 {
				return nil, nil
			}
			q, _ := xd.Div(yd)
			return Collection{decItem(xd.Sub(q.Truncate(0).Mul(yd)))}, nil
		}
	}
	xq, xQ := va.(Quantity)
	yq, yQ := vb.(Quantity)
	if xQ && !yQ && yNum {
		yq, yQ = Quantity{yd, "1"}, true
	}
	if yQ && !xQ && xNum {
		xq, xQ = Quantity{xd, "1"}, true
	}
	if xQ && yQ {
		switch op {
		case "+", "-":
			yc, ok := convertQuantity(yq, xq.Unit)
			if !ok {
				if normCal(xq.Unit) == normCal(yq.Unit) {
					yc = yq
				} else {
					return nil, nil
				}
			}
			v := xq.Value.Add(yc.Value)
			if op == "-" {
				v = xq.Value.Sub(yc.Value)
			}
			return Collection{qtyItem(Quantity{v, xq.Unit})}, nil
		case "*", "/":
			r, ok := mulQuantity(xq, yq, op == "/")
			if !ok {
				return nil, nil
			}
			return Collection{qtyItem(r)}, nil
		}
	}
	return nil, errf("cannot apply '%s' to %s and %s", op, typeLabel(a), typeLabel(b))
}

// sameMemberPath reports whether a and b are the same chain of member
// accesses (A.b.c), the only shape whose evaluation may be shared: it has no
// functions, so no side effects (trace) and no dependence on $this.
func sameMemberPath(a, b node) bool {
	switch x := a.(type) {
	case *memberNode:
		y, ok := b.(*memberNode)
		return ok && x.name == y.name
	case *pathNode:
		y, ok := b.(*pathNode)
		return ok && sameMemberPath(x.left, y.left) && sameMemberPath(x.right, y.right)
	}
	return false
}

// sharedPrefixUnion is prefix.l | prefix.r with prefix evaluated once.
type sharedPrefixUnion struct {
	prefix node
	l, r   *memberNode
}

func (n *sharedPrefixUnion) eval(c *evalCtx, focus Collection) (Collection, error) {
	pre, err := n.prefix.eval(c, focus)
	if err != nil {
		return nil, err
	}
	l, err := c.member(pre, n.l.name, &n.l.cache)
	if err != nil {
		return nil, err
	}
	r, err := c.member(pre, n.r.name, &n.r.cache)
	if err != nil {
		return nil, err
	}
	return union(l, r), nil
}
