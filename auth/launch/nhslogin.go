package launch

import (
	"fmt"

	"ucp/auth"
)

// NHS login's vectors of trust (RFC 8485 as NHS login profiles it): the
// identity proofing level (P5, P9) and how the person authenticated (Cp.Cd
// password and a registered device or one-time code, Cp.Ck password and a
// shared key, Cm an asymmetric key on a device). ucp asks for any
// authentication NHS login counts as medium or high.
var (
	// NHSLoginP9Vectors are the vectors of plan content and submission.
	NHSLoginP9Vectors = []string{"P9.Cp.Cd", "P9.Cp.Ck", "P9.Cm"}
	// NHSLoginVectors are the vectors of an ordinary sign-in: a P5 person
	// may start their answers, a P9 one does everything.
	NHSLoginVectors = []string{"P5.Cp.Cd", "P5.Cp.Ck", "P5.Cm", "P9.Cp.Cd", "P9.Cp.Ck", "P9.Cm"}
)

// NHSLoginAlgorithm is the only signature NHS login uses and accepts: its
// ID tokens, and the client assertions of private_key_jwt.
const NHSLoginAlgorithm = "RS512"

// NHSLogin is the relying party of NHS login as its interface
// specification requires: private_key_jwt with key (RS512), the vtr of
// NHSLoginVectors (NHSLoginP9Vectors for a step-up) with the vot checked,
// RS512 ID tokens only, and the person's claims from userinfo. name is the
// path segment, /auth/oidc/{name}/….
func NHSLogin(name, issuer, clientID string, key *auth.SigningKey) (*SignInProvider, error) {
	if key == nil || key.Algorithm() != NHSLoginAlgorithm {
		return nil, fmt.Errorf("NHS login: the client key must be an RSA key used with %s", NHSLoginAlgorithm)
	}
	return &SignInProvider{Name: name, Label: "Continue with NHS login", Issuer: issuer, ClientID: clientID, Key: key,
		Scopes: []string{"profile", "email"}, Patients: true,
		Vectors: NHSLoginVectors, StepUpVectors: NHSLoginP9Vectors, IDTokenAlgs: []string{NHSLoginAlgorithm}, UserInfo: true}, nil
}
