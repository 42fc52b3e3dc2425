// Package validate checks FHIR R4 resources, in the server's parsed JSON form
// (map[string]any trees with json.Number numbers and "_name" primitive
// extension siblings, see package ucp/fhir/resource), against the base R4
// structure and against profiles (StructureDefinitions).
//
// The REST layer calls it in its write path and for $validate, and turns the
// issues into an OperationOutcome (422 when HasErrors):
//
//	v := validate.New(validate.Options{
//		Profiles:                profiles,    // canonical URL → StructureDefinition
//		Terminology:             terminology, // e.g. validate.NewMemoryTerminology(valueSets...)
//		KnownModifierExtensions: []string{"https://…"},
//	})
//	issues := v.Validate(ctx, res, extraProfiles...)
//	if validate.HasErrors(issues) { … }
//
// Each Issue has an OperationOutcome severity and issue type code, a
// FHIRPath location ("Patient.name[0].given[1]") and a message.
//
// # Base structure
//
// Validate always checks, using the element model of package ucp/fhir/model:
//
//   - resourceType (a concrete resource type), element names (unknown ones are
//     errors, code "structure"), arrays exactly where the element repeats,
//     no empty objects, arrays or strings, one value at most for a choice
//     element (value[x]);
//   - primitive values: JSON type and the lexical forms of
//     http://hl7.org/fhir/R4/datatypes.html (instant needs a timezone,
//     dateTime a timezone when it has a time, integer ranges, ids, oids,
//     uuids, base64 …), code "value";
//   - "_name" siblings: an object with id/extension, or an array parallel to
//     the values with nulls; a null value needs an extension;
//   - required elements (min 1), code "required";
//   - modifierExtension: any URL not in Options.KnownModifierExtensions is an
//     error (code "extension"), since a modifier changes the meaning of its
//     element and cannot be ignored; ordinary unknown extensions are kept;
//   - required bindings of code elements (Patient.gender, CarePlan.status …),
//     code "code-invalid", and the resource types a Reference element may
//     point to (CarePlan.subject: Patient or Group), judged from the
//     reference string;
//   - contained resources and Bundle/Parameters resources, recursively;
//   - the invariants (ElementDefinition.constraint) of the core
//     definitions, evaluated with the FHIRPath engine on each element they
//     belong to (dom-*, ext-1, pat-1, cpl-3, obs-6, per-1, ref-1, txt-1 …),
//     code "invariant", severity as defined (dom-6 is a warning; it is not
//     applied to contained resources). ele-1 and dom-3 are checked in Go (see
//     SkippedCoreInvariants), que-7 is corrected as in R5.
//
// The invariants, required bindings with their code lists, and reference
// targets are generated into zz_generated.go by ./internal/gen from the
// official R4 StructureDefinition, ValueSet and CodeSystem resources
// (../shared/fhir-r4-core; only keys, expressions, paths and codes are
// taken, no definition file is copied). Regenerate with
// `go generate ./fhir/validate/`.
//
// # Profiles
//
// Validate then checks the profiles in meta.profile (an unknown one is a
// warning: a resource may claim profiles this server has never seen) and
// those passed explicitly (an unknown one is an error). A profile is taken
// from its differential (or its snapshot when it has no differential); a
// profile deriving from another (baseDefinition chains of any depth) is
// merged onto its base by element id, so that a derived profile may add
// slices or narrow the base profile's elements. Checked:
//
//   - cardinality where the profile narrows the base (min, max, max 0);
//   - fixed[x] (exact) and pattern[x] (the value contains the pattern);
//   - allowed types of choice elements, and the resource type of
//     references against targetProfile (core types, or profiles the
//     ProfileSource knows);
//   - required (error) and extensible (warning) bindings of code, Coding and
//     CodeableConcept elements through the Terminology;
//   - slicing with value, pattern, exists and type discriminators
//     (extensions by url, from the slice's fixed url or its type.profile;
//     identifiers by system; codings and categories by pattern; component by
//     code.coding.code), slice cardinality, and closed slicing; extension
//     slices are told apart by url even where the differential declares no
//     slicing, as the R4 base slices every extension element;
//   - the profile's own constraints (FHIRPath), on each value.
//
// mustSupport is ignored. Compiled profiles are cached by URL, version and
// meta.versionId/lastUpdated of each profile in the chain.
//
// # Terminology
//
// Terminology answers code membership for bindings and memberOf().
// MemoryTerminology expands ValueSets held in memory: enumerated concepts,
// whole CodeSystems it holds (nested concepts included), other value sets,
// and exclusions; value sets with filters are reported as unknown, and the
// binding check becomes a warning. It falls back to the core value sets
// generated into this package.
package validate
