// Package search implements FHIR R4 search (https://hl7.org/fhir/R4/search.html)
// above the store: the SearchParameter registry, index extraction on the
// write side and request parsing on the read side.
//
// # Parameters are data
//
// The R4 base SearchParameters of the served resource types, the
// Resource-level ones (_id, _lastUpdated, _tag, _profile, _security, _source)
// and the Patient compartment are in parameters.json, written by the
// generator in internal/gen from the official definitions and embedded.
// Each record is one parameter as it applies to one base type, with only the
// alternatives of the R4 union expression for that type, so extraction
// evaluates nothing that cannot match. A composite parameter's record also
// lists its components (the defining parameter's url and type, and the
// expression relative to each composite value). Special parameters, and
// those without an expression (_text, _content), are not in it; _text and
// _content are built in instead (text.go: Extract adds one full-text entry
// of each, Parse matches every word as a word prefix), the other special
// ones stay unsupported. Custom SearchParameter resources are
// added at run time with Registry.Register (then $reindex re-extracts stored
// resources; Param.Custom marks parameters that may be incomplete until then).
//
// # Write side
//
// Registry.Extract evaluates each parameter's FHIRPath expression and turns
// the values into store.Entry values by FHIR datatype:
//
//   - token: Coding (system, code; display into Text), CodeableConcept (each
//     coding; text and display into Text), Identifier (system, value; type
//     text into Text; plus "<code>:of-type" entries for :of-type),
//     ContactPoint (value, with its system), code, boolean ("true"/"false"),
//     string, uri and id (code only).
//   - string: every part of a HumanName or Address and the whole of it, and
//     plain strings; Norm is lower case, accents folded, whitespace collapsed,
//     Exact as written.
//   - date: date, dateTime and instant as the range [Low, High) they cover
//     at their precision (a dateTime without zone is UTC); Period from start to
//     end (open ends are store.MinTime and store.MaxTime); Timing from its first
//     to its last event (or its boundsPeriod).
//   - reference: relative "Type/id" and absolute references under the
//     server's base URL (SetBaseURL) give RefType/RefID; other absolute
//     references and canonicals (version dropped) give URL;
//     Reference.identifier gives System/Code (for :identifier); contained
//     "#x" references are skipped; an identifier-only reference takes its
//     type, or the parameter's single target.
//   - number and quantity: Num and the range [NumLow, NumHigh) the written
//     precision implies ("100" → [99.5, 100.5), "1.50" → [1.495, 1.505));
//     the unit's system and code (the unit too, when it differs from the code).
//     A UCUM quantity whose unit is in the small owned table of ucum.go also
//     gets its canonical form (CanonCode, CanonNum, CanonLow, CanonHigh:
//     mg → g, mmol/L → mol/L, min → s, Cel → K, mm[Hg] → Pa …).
//   - uri: Exact.
//   - composite: each value of the composite's expression (the Observation,
//     or one Observation.component) is a group; each component's values in
//     it become entries of the component's type under "<code>$<i>" with the
//     group's number (store.Entry.Group), so code$value matches within one
//     component. A value lacking a component gets no entries.
//
// Text is stored normalised like Norm, so a store answers :text by a
// word-prefix match of the normalised TextMatch without normalising itself.
// _id and _lastUpdated get no entries: the store answers them from the
// resource. Extract also returns the Patient compartment: the ids of the
// Patients referenced by the compartment parameters of the resource's type
// (CompartmentDefinition-patient), and a Patient's own id.
//
// # Read side
//
// Registry.Parse turns a search's parameters into a Request whose Query the
// store answers: comma-separated values are ORed (one store.Clause), repeated
// parameters ANDed; prefixes eq ne gt lt ge le sa eb ap on dates, numbers and
// quantities (ap widens a date by a tenth of its distance from now and a
// number by a tenth of its value); modifiers :missing, :not, :text and
// :of-type (token), :exact and :contains (string), :identifier and :[type]
// (reference), :above and :below (uri); with a Terminology set
// (SetTerminology), token :in and :not-in (a stored ValueSet's codes) and
// :above and :below (a CodeSystem's hierarchy), expanded into ORed token
// conditions (:not-in into ANDed :not ones) and refused above MaxExpansion
// codes; without one they are unsupported. A quantity in a UCUM unit of the
// table is searched in its canonical form (store.Cond.Canonical), so
// 5.4|http://unitsofmeasure.org|mg finds 5400 ug; other units compare as
// written. Composite values "a$b" parse each part as its component's type
// into store.Cond.Components. :missing works on every type, composites and
// chained parameters included. _sort takes any parameter but composite and
// special ones. Escapes \, \| \$ \\; chains
// (subject:Patient.identifier=…, tried on every target type when no type is
// given; at most 3 deep) into store.Chain and _has:Type:param:… into
// store.Has; _count (default 20, at most 1000), _total, _sort, _summary,
// _elements, _include and _revinclude (:iterate) and _type for a system
// search. Unknown parameters and unsupported modifiers are Invalid errors
// under strict handling (naming the nearest known name) and listed in
// Request.Ignored otherwise; malformed values, and searches beyond
// MaxValues, MaxIDValues, MaxParams or MaxTotalValues, are always Invalid
// errors. Registry.ParseCondition parses the
// query of a conditional create, update or delete.
//
// Every error this package returns to a caller is a *outcome.Error.
package search
