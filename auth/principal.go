package auth

import (
	"context"
	"strings"
	"time"
)

// Principal is the verified caller of one request.
type Principal struct {
	Issuer  string // iss of the token
	Subject string // sub of the token
	// UserID identifies a person: CIS2's nhsid_useruid (the SDS user id) when
	// present, otherwise sub. Empty for system clients.
	UserID string
	Name   string

	Role     Role   // the coarse role the policy uses; RoleNone refuses everything
	RoleCode string // national RBAC role code behind Role, e.g. "S8000:G8000:R8000"
	RoleName string
	RoleID   string   // CIS2 person_roleid of the selected role
	Org      string   // ODS code of the organisation the user acts for
	Activity []string // national RBAC activity codes of the selected role

	ClientID string // OAuth client: the system for system tokens, the app otherwise
	// Patient is the patient id: the caller themself for RolePatient, or the
	// launch context patient (launch/patient) for a clinician's app.
	Patient  string
	FHIRUser string // fhirUser claim, e.g. Practitioner/123 or an absolute URL
	Scopes   Scopes

	IDAssurance int // CIS2 identity assurance level (0–3), 0 when absent
	// IdentityProofing is a patient's NHS login identity_proofing_level
	// ("P5", "P9"), "" when the token does not say (ucp's own tokens, and
	// NHS login's door, which admits P9 only).
	IdentityProofing string
	AuthAssurance    string // acr, e.g. AAL3_ANY
	TokenID          string // jti, for the audit
	Expiry           time.Time
}

// IsSystem reports whether the principal is a system acting for itself, with
// no person behind the request.
func (p *Principal) IsSystem() bool { return p != nil && p.Role == RoleSystem }

type contextKey int

const principalKey contextKey = 0

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// FromContext returns the principal in ctx, or nil if the request is
// anonymous.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey).(*Principal)
	return p
}

// CallerKey names the caller of ctx as they act: the same person or system
// (issuer and subject) through the same client, for the same organisation,
// role and patient context, gets the same key; "" for an anonymous request.
// Things a request hands out to its caller alone (paging cursors) are bound
// to it.
func CallerKey(ctx context.Context) string {
	p := FromContext(ctx)
	if p == nil {
		return ""
	}
	return strings.Join([]string{p.Issuer, p.Subject, p.ClientID, p.Org, string(p.Role), p.Patient}, "\x00")
}
