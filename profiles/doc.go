// Package profiles holds ucp's urgent-care-plan conformance resources: the
// StructureDefinitions that say what a valid urgent care plan and each of its
// sections look like, the ValueSets they bind to and our own CodeSystems,
// and the SearchParameters R4 lacks for them (supporting-info: the plan's
// sections, for _include=CarePlan:supporting-info), all as JSON embedded in
// the binary, plus Go constants for the codes and systems the domain logic
// uses.
//
// The profiles are data, not code (DESIGN principle 4): the validator
// (ucp/fhir/validate) reads them like any other StructureDefinition. Each
// derives from its UK Core parent where UK Core has one (baseDefinition
// UKCore-Patient, UKCore-Observation …; UCPPrognosis and UCPReviewDate from
// the R4 types) and is a differential on it that tightens and never
// loosens. UK Core is not embedded: the server loads the package at run
// time (ucp/fhir/fhirpkg) and the validator follows each baseDefinition
// into it; without it, StandIn answers for the UK Core parents, so that our
// profiles are checked against their own constraints on the R4 base types.
//
// Modelling, in brief (the descriptions say more):
//
//   - UCPCarePlan: the plan itself; category End of life care plan or
//     Advance care plan; activity = what to do if the patient deteriorates;
//     supportingInfo points at the sections below.
//   - UCPCPRDecision (Observation 304251008): for / not for CPR, decision
//     date, decider, review date extension, discussion and awareness
//     components.
//   - UCPTreatmentEscalation (Observation 735324008): ceiling of treatment and
//     the ReSPECT 1–100 priority between sustaining life and comfort.
//   - UCPPreferredPlace (Observation): preferred place of care or death,
//     first or second choice, NHS Data Dictionary death location type.
//   - UCPPlaceOfDeath (Observation actual-place-of-death): where the patient
//     died, with whether the preferred place was achieved (derived by
//     Patient/{id}/$record-death).
//   - UCPPrognosis (ClinicalImpression.prognosisCodeableConcept).
//   - UCPADRTFlag, UCPLPAFlag (Flag), UCPAdvanceDocument (DocumentReference),
//     UCPLPAAttorney and UCPKeyContact (RelatedPerson), UCPCareTeam,
//     UCPConsent (consent to share), UCPCondition, UCPAnticipatoryMedication.
//   - UCPPatient, UCPOrganization, UCPPractitioner: who, by NHS number, ODS
//     code and professional number.
//
// Canonical URLs start with BaseURL; a deployment that renames them should
// rewrite the JSON, not the Go constants' users.
package profiles
