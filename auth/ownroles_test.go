package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
)

// TestVerifyOwnRoles: ucp's own authorization server writes the role it
// mapped at sign-in into ucp_role; only an issuer configured with OwnRoles
// is believed, never for system, and a patient only as the patient their
// fhirUser names.
func TestVerifyOwnRoles(t *testing.T) {
	key, err := auth.NewSigningKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	const iss = "http://127.0.0.1/auth"
	verifier := func(own bool) *auth.Verifier {
		v, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{{URL: iss, Audience: aud, Systems: true, OwnRoles: own, KeySet: key.KeySet()}}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	now := time.Now()
	base := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": iss, "aud": aud, "sub": "555001", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "client_id": "app", "scope": "user/*.rs"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name   string
		own    bool
		claims map[string]any
		want   auth.Role
	}{
		{"view user", true, base(map[string]any{"ucp_role": "view", "org_code": "F84012"}), auth.RoleView},
		{"clinician", true, base(map[string]any{"ucp_role": "clinical"}), auth.RoleClinical},
		{"issuer without OwnRoles ignores the claim", false, base(map[string]any{"ucp_role": "clinical"}), auth.RoleNone},
		{"system is never taken from the claim", true, base(map[string]any{"ucp_role": "system"}), auth.RoleNone},
		{"unknown role", true, base(map[string]any{"ucp_role": "superuser"}), auth.RoleNone},
		{"patient as themself", true, base(map[string]any{"ucp_role": "patient", "fhirUser": aud + "/Patient/p1", "patient": "p1"}), auth.RolePatient},
		{"patient claiming another patient", true, base(map[string]any{"ucp_role": "patient", "fhirUser": aud + "/Patient/p1", "patient": "p2"}), auth.RoleNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := key.Sign(tc.claims)
			if err != nil {
				t.Fatal(err)
			}
			p, err := verifier(tc.own).Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p.Role); diff != "" {
				t.Errorf("role (-want +got):\n%s", diff)
			}
		})
	}
}
