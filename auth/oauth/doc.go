// Package oauth makes ucp a SMART App Launch 2.2 authorization server
// (https://hl7.org/fhir/smart-app-launch/app-launch.html) for apps
// registered in the clients file (auth/smart): public apps,
// client_secret_basic and private_key_jwt.
//
// The protocol is ory/fosite's (authorization code with PKCE S256 only,
// refresh tokens rotated with reuse revoking the family, single-use codes
// whose reuse revokes what they issued, OpenID Connect ID tokens, RFC 7662
// introspection, RFC 7009 revocation). This package adds what SMART needs
// around it:
//
//   - authorize checks the app's exact redirect_uri (a mismatch is a page,
//     never a redirect), PKCE and aud before asking the user anything; a
//     user who is not signed in is sent to sign in (Users); the user
//     approves on a consent page, a staff user naming the patient by NHS
//     number for launch/patient;
//   - the user is granted only what their role allows (Grant), whatever the
//     app asked for;
//   - the launch context (patient, need_patient_banner, fhirContext with the
//     patient's current plan, found through the FHIR service as the user:
//     Records) travels in the Session, so the token response, introspection
//     and every refresh carry it;
//   - access tokens are JWTs signed by the Backend Services key with the
//     user's role (ucp_role), so auth.Verifier accepts them as it does
//     system tokens; ID tokens are signed RS256;
//   - POST {issuer}/launch lets a registered launcher (a system client with
//     ehr_launch) create the single-use context of an EHR launch;
//   - each app authorized for a user, each launch and each refused launch is
//     recorded as a login AuditEvent (Journal);
//   - discovery (Configuration, OpenID Connect) lists exactly what works;
//     CORS lets browser apps call discovery and the token endpoint.
//
// Codes, refresh tokens (with their families), access token records,
// launches and used assertion ids are kept in State (auth/authstate), so a
// restart signs no app out and lets nothing single-use be used again.
package oauth
