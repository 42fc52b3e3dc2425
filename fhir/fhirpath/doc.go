// Package fhirpath is a FHIRPath 2.0 (N1, http://hl7.org/fhirpath/N1/) engine
// for FHIR R4 resources in the server's parsed JSON form: map[string]any
// trees whose leaves are string, json.Number (kept exactly as written), bool
// or nil, with primitive extensions in "_name" siblings.
//
// Compile an expression once and evaluate it many times:
//
//	e, err := fhirpath.Compile("CarePlan.subject.where(resolve() is Patient)")
//	items, err := e.Evaluate(resource, &fhirpath.Env{Resolver: lookup})
//	for _, it := range items {
//		_ = it.TypeName() // "Reference"
//		_ = it.Data()     // the JSON node
//	}
//
// Every resource-tree item carries its precise FHIR type from the R4 model
// (package ucp/fhir/model): choice elements are typed by the property present
// (Observation.value on valueQuantity is "Quantity"), primitives by their FHIR
// type ("code", "dateTime", "canonical"), backbone elements by their path
// ("CarePlan.activity", a BackboneElement).
//
// Semantics follow the specification and the official HL7 test suite
// (run by TestOfficial when FHIRPATH_TESTS names its folder): exact decimals
// that keep their written precision, precision-aware date/time comparison and
// arithmetic, calendar durations versus UCUM quantities with a small UCUM unit
// converter, three-valued logic, equivalence, and the FHIR additions
// extension(), hasValue(), getValue(), resolve(), htmlChecks() (lenient:
// well-formed XHTML with one root and no active content), memberOf() and
// conformsTo() through Env callbacks, and %resource, %context,
// %rootResource, %ucum, %sct, %loinc, %vs-*, %ext-*.
//
// resolve() looks in contained resources ("#id"), then in the enclosing
// Bundle (by fullUrl or type/id), then asks Env.Resolver. Without a Resolver a
// literal reference "Type/id" resolves to a stub {"resourceType", "id"} of
// that type, so search-parameter expressions such as `resolve() is Patient`
// work at write time (as HAPI does); `resolve() is T` on such a reference is
// answered from the reference string without building the stub.
//
// Env.Strict turns on FHIRPath's strict mode at run time: navigating to an
// element that none of the focus items' types defines is an error
// (name.given1, Observation.valueQuantity). Checks that need static typing of
// an empty focus are not done. subsumes() and subsumedBy() need a
// terminology server and return empty.
//
// Expressions nest at most 200 levels deep (Compile refuses deeper ones), so
// hostile input cannot exhaust the stack.
package fhirpath
