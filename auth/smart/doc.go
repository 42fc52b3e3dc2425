// Package smart makes ucp the authorization server for registered system
// clients under SMART Backend Services
// (https://hl7.org/fhir/smart-app-launch/backend-services.html): a client
// authenticates with a signed JWT assertion (private_key_jwt, RS384 or
// ES384) and gets a short-lived access token for the system/ scopes it is
// registered for. The access tokens are signed by the server's key and
// verified by auth.Verifier through [Server.IssuerConfig].
//
// It also serves /.well-known/smart-configuration, the SMART discovery
// document.
package smart
