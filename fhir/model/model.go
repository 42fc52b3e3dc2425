package model

import (
	"sort"
	"strings"
)

// Kind classifies a type.
type Kind int

// Kinds of type.
const (
	KindPrimitive Kind = iota // boolean, string, code, date …
	KindComplex               // Quantity, CodeableConcept, Element …
	KindBackbone              // an anonymous type nested in a resource or datatype ("CarePlan.activity")
	KindResource              // Patient, Resource, DomainResource …
)

// ElementInfo describes one element of a type.
type ElementInfo struct {
	// Name is the element's name; for a choice element without the [x] ("value").
	Name string
	// Types are the possible FHIR type names: one, or several for a choice
	// element. A backbone element's type is its path ("CarePlan.activity"),
	// whose base type is BackboneElement. Resource-typed elements (contained,
	// Bundle.entry.resource) have type "Resource".
	Types []string
	// Min is the minimum cardinality (0 or 1).
	Min int
	// Max is the maximum cardinality: "1" or "*".
	Max string
	// JSONNames are the JSON property names, one per type: the Name itself,
	// or Name+TypeName for a choice element ("valueQuantity").
	JSONNames []string
	// ExtNames are, per type, the JSON property of the primitive extension
	// sibling ("_birthDate") for primitive types, or "" for complex types.
	ExtNames []string
}

// IsChoice reports whether the element is a choice element (value[x]).
func (e *ElementInfo) IsChoice() bool { return len(e.Types) > 1 }

// IsList reports whether the element may repeat.
func (e *ElementInfo) IsList() bool { return e.Max != "1" }

// TypeInfo describes a type: a primitive, a complex datatype, a backbone
// element or a resource.
type TypeInfo struct {
	Name     string
	Base     string // the type it specialises ("" for Base types)
	Kind     Kind
	Elements []ElementInfo // all elements, inherited ones included, in document order

	byName map[string]int // element name -> index
	byJSON map[string]jsonRef
}

type jsonRef struct{ elem, typ int }

// Element returns the element called name ("value" for a choice element).
func (t *TypeInfo) Element(name string) *ElementInfo {
	if t == nil {
		return nil
	}
	if i, ok := t.byName[name]; ok {
		return &t.Elements[i]
	}
	return nil
}

// ElementByJSONName finds the element a JSON property belongs to
// ("valueQuantity" → value, "Quantity").
func (t *TypeInfo) ElementByJSONName(prop string) (e *ElementInfo, typeName string) {
	if t == nil {
		return nil, ""
	}
	if r, ok := t.byJSON[prop]; ok {
		e := &t.Elements[r.elem]
		return e, e.Types[r.typ]
	}
	return nil, ""
}

var (
	types         = map[string]*TypeInfo{}
	resourceTypes []string
)

// Primitive type names and their base types.
var primitiveBase = map[string]string{
	"boolean": "Element", "integer": "Element", "decimal": "Element", "string": "Element", "uri": "Element",
	"base64Binary": "Element", "instant": "Element", "date": "Element", "dateTime": "Element", "time": "Element",
	"code": "string", "id": "string", "markdown": "string", "url": "uri", "canonical": "uri", "oid": "uri",
	"uuid": "uri", "positiveInt": "integer", "unsignedInt": "integer", "xhtml": "Element",
}

func init() {
	elem := func(name, typ, max string) ElementInfo {
		return ElementInfo{Name: name, Types: []string{typ}, Max: max}
	}
	extra := []TypeInfo{
		{Name: "Element", Kind: KindComplex, Elements: []ElementInfo{elem("id", "string", "1"), elem("extension", "Extension", "*")}},
		{Name: "BackboneElement", Base: "Element", Kind: KindComplex, Elements: []ElementInfo{elem("id", "string", "1"),
			elem("extension", "Extension", "*"), elem("modifierExtension", "Extension", "*")}},
		{Name: "Resource", Kind: KindResource, Elements: []ElementInfo{elem("id", "id", "1"), elem("meta", "Meta", "1"),
			elem("implicitRules", "uri", "1"), elem("language", "code", "1")}},
		{Name: "DomainResource", Base: "Resource", Kind: KindResource, Elements: []ElementInfo{elem("id", "id", "1"),
			elem("meta", "Meta", "1"), elem("implicitRules", "uri", "1"), elem("language", "code", "1"),
			elem("text", "Narrative", "1"), elem("contained", "Resource", "*"), elem("extension", "Extension", "*"),
			elem("modifierExtension", "Extension", "*")}},
	}
	for name, base := range primitiveBase {
		extra = append(extra, TypeInfo{Name: name, Base: base, Kind: KindPrimitive,
			Elements: []ElementInfo{elem("id", "string", "1"), elem("extension", "Extension", "*")}})
	}
	all := append(extra, generatedTypes...)
	for i := range all {
		t := &all[i]
		types[t.Name] = t
	}
	// Quantity profiles that samply does not model as structs.
	if q := types["Quantity"]; q != nil {
		for _, n := range []string{"SimpleQuantity", "MoneyQuantity"} {
			if types[n] == nil {
				types[n] = &TypeInfo{Name: n, Base: "Quantity", Kind: KindComplex, Elements: q.Elements}
			}
		}
	}
	for _, t := range types {
		t.byName = make(map[string]int, len(t.Elements))
		t.byJSON = make(map[string]jsonRef, len(t.Elements))
		for i := range t.Elements {
			e := &t.Elements[i]
			t.byName[e.Name] = i
			if e.JSONNames == nil {
				if len(e.Types) == 1 {
					e.JSONNames = []string{e.Name}
				} else {
					e.JSONNames = make([]string, len(e.Types))
					for j, ty := range e.Types {
						e.JSONNames[j] = e.Name + strings.ToUpper(ty[:1]) + ty[1:]
					}
				}
			}
			if e.ExtNames == nil {
				e.ExtNames = make([]string, len(e.JSONNames))
				for j, jn := range e.JSONNames {
					if _, prim := primitiveBase[e.Types[j]]; prim {
						e.ExtNames[j] = "_" + jn
					}
				}
			}
			for j, jn := range e.JSONNames {
				t.byJSON[jn] = jsonRef{i, j}
			}
		}
		if t.Kind == KindResource && t.Name != "Resource" && t.Name != "DomainResource" {
			resourceTypes = append(resourceTypes, t.Name)
		}
	}
	sort.Strings(resourceTypes)
}

// Type returns the named type ("Patient", "Quantity", "code",
// "CarePlan.activity"), or nil when R4 has no such type.
func Type(name string) *TypeInfo { return types[name] }

// Lookup returns the element elementName of type typeName. For a choice
// element, elementName is the name without [x] ("value"); the JSON name
// ("valueQuantity") is not accepted here (see TypeInfo.ElementByJSONName).
func Lookup(typeName, elementName string) (ElementInfo, bool) {
	t := types[typeName]
	if t == nil {
		return ElementInfo{}, false
	}
	e := t.Element(elementName)
	if e == nil {
		return ElementInfo{}, false
	}
	return *e, true
}

// IsResource reports whether name is a resource type, including the abstract
// Resource and DomainResource.
func IsResource(name string) bool {
	t := types[name]
	return t != nil && t.Kind == KindResource
}

// IsPrimitive reports whether name is a FHIR primitive type (boolean, code,
// dateTime …).
func IsPrimitive(name string) bool {
	t := types[name]
	return t != nil && t.Kind == KindPrimitive
}

// BaseType returns the type name specialises: Age → Quantity, code → string,
// Patient → DomainResource → Resource, CarePlan.activity → BackboneElement,
// Quantity → Element. It returns "" for Element, Resource and unknown types.
func BaseType(name string) string {
	if t := types[name]; t != nil {
		return t.Base
	}
	return ""
}

// IsA reports whether type name is base or derives from it (Age IsA Quantity,
// Patient IsA Resource, CarePlan.activity IsA BackboneElement and Element).
func IsA(name, base string) bool {
	for n, depth := name, 0; n != "" && depth < 8; n, depth = BaseType(n), depth+1 {
		if n == base {
			return true
		}
	}
	return false
}

// ResourceTypes returns the names of the concrete R4 resource types, sorted.
func ResourceTypes() []string { return append([]string(nil), resourceTypes...) }
