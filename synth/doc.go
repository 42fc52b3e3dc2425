// Package synth generates realistic, varied and fully valid synthetic
// urgent care plans: London patients with NHS numbers in the 999 test range,
// GP practices by ODS-style code, clinicians with GMC and NMC numbers,
// diagnoses, CPR decisions, treatment escalation (ReSPECT) recommendations,
// preferred places of care and death, prognoses, ADRTs and LPAs, key
// contacts, care teams, anticipatory medicines, consent to share, and plans
// that move through their lifecycle (draft, active, reviewed, revoked,
// completed) with a Provenance for every approval.
//
// Generation is streaming and deterministic: Generate hands a Writer one
// patient's Record at a time, and the same Options (seed included) always
// produce byte-identical output, whatever the platform. Randomness comes
// from math/rand/v2 PCG streams derived from the seed; no map iteration
// order reaches the output, and resources are serialised canonically.
//
// Two output forms are provided:
//
//   - NDJSON: one resource per line, in an order a loader can apply as is
//     (shared Organizations and Practitioners on first use, then the
//     patient's resources, then each plan version followed by its approval
//     Provenance). Superseded plan versions are successive lines with the
//     same id; a Provenance targets CarePlan/id/_history/N, which is the
//     version number a fresh server assigns when the lines are loaded in
//     order.
//   - Transaction Bundles: for each patient, one transaction that creates
//     everything (urn:uuid fullUrls and references; shared Organizations and
//     Practitioners by conditional create on their identifier), followed
//     by one small transaction per later plan version. Because a single
//     transaction cannot touch one resource twice and the server assigns
//     ids, the plan is written by conditional update on its identifier
//     (PUT CarePlan?identifier=…) and later versions refer to the first
//     bundle's resources by conditional references on their identifiers.
//     Every generated resource therefore carries an identifier.
package synth
