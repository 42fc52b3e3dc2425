package fhirpath

import "time"

// Collection is an ordered FHIRPath collection. The empty collection is nil or
// a zero-length slice.
type Collection []Item

// Item is one value in a collection: either a node of the resource tree (with
// its FHIR type) or a value computed by the expression (a System type).
type Item struct {
	v   any            // map[string]any, string, json.Number, bool, nil (resource nodes) or computed values
	typ string         // FHIR type name, or "System.X" for computed values; "" when unknown
	ext map[string]any // for primitive resource nodes: the "_name" sibling object (id, extension); may be nil
}

// Data returns the underlying value: for nodes of the resource tree the JSON
// node itself (map[string]any, string, json.Number, bool, or nil for a
// primitive that carries only extensions); for computed System values a Go
// value: string, bool, int64, Decimal, Date, DateTime, Time or Quantity.
func (it Item) Data() any { return it.v }

// TypeName returns the FHIR type of a resource-tree node ("CodeableConcept",
// "Reference", "date", "code", "Patient", "CarePlan.activity" for backbone
// elements …) or the System type ("System.String", "System.Integer" …) of a
// computed value. It returns "" when the type cannot be known (an element the
// R4 model does not define).
func (it Item) TypeName() string { return it.typ }

// Env is the evaluation environment of an expression.
type Env struct {
	// Vars holds the %name variables the caller defines (without the %).
	Vars map[string]Collection
	// Resolver resolves a reference that is neither contained in the resource nor
	// found in the enclosing Bundle to the stored resource. It may be nil, in which
	// case resolve() of a relative or absolute literal reference "Type/id" yields a
	// stub {"resourceType": Type, "id": id} so that `resolve() is Patient` works.
	Resolver func(reference string) (map[string]any, error)
	// MemberOf answers memberOf(valueSetURL) for a code, Coding or
	// CodeableConcept item. When nil, memberOf returns empty.
	MemberOf func(code Item, valueSetURL string) (bool, error)
	// ConformsTo answers conformsTo(profileURL). When nil, conformsTo returns
	// true for the base StructureDefinition of the resource's own type, false for
	// other base types and empty otherwise.
	ConformsTo func(resource Item, profileURL string) (bool, error)
	// Now is the clock for now(), today() and timeOfDay(); nil means time.Now.
	Now func() time.Time
	// Trace receives trace() output; nil discards it.
	Trace func(name string, c Collection)
	// Strict enables the checks of FHIRPath's strict mode: navigating to an
	// element the R4 model does not define for a known type is an error.
	Strict bool
}
