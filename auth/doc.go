// Package auth decides who is calling ucp and what they may do.
//
// A care plan records a dying patient's most private decisions (a CPR
// decision, the preferred place of death), so every request is authenticated
// and every interaction is checked twice, by role and by scope, and both must
// allow it. The pieces are:
//
//   - [Verifier] checks Bearer JWTs against configured OpenID Connect issuers
//     (NHS CIS2 in production, the SMART Backend Services token endpoint of
//     package auth/smart for registered systems, and the development issuer of
//     package auth/devissuer with --dev) and turns the claims into a
//     [Principal].
//   - [Scope] and [Scopes] parse and match SMART App Launch scopes, v1
//     (patient/CarePlan.read) and v2 (patient/CarePlan.rs, with optional
//     granular query).
//   - [RoleMap] maps national RBAC role codes to ucp's coarse [Role]s through
//     configuration, never code, because the code lists change without a
//     release of ucp.
//   - [Policy] implements the FHIR service's Authorizer hook,
//     [AgreementPolicy] wraps it with the information-sharing agreement
//     check, and [OperationPolicy] around both authorises each operation
//     as the interaction it amounts to: together, the one authorizer.
//     [Policy.Operator] names the organisation that runs the service: only
//     its admins record agreements, read the audit and run $reindex, and
//     it needs no agreement itself.
//
// Refusals are *outcome.Error of kind outcome.Forbidden (403). A missing or bad
// credential is an [*AuthError], which matches [ErrUnauthenticated] with
// errors.Is and carries the WWW-Authenticate challenge for the 401.
//
// The package fails closed: anything it cannot prove is allowed is refused.
package auth
