package auth_test

import (
	"context"
	"testing"

	"ucp/auth"
	"ucp/fhir/outcome"
)

type refuseAll struct{}

func (refuseAll) Authorize(context.Context, auth.Access) error {
	return outcome.Errorf(outcome.Forbidden, "refused")
}

// TestInProcessTrustsIdentityOnly: the server's own loader is allowed
// everything; a principal with the very same fields (as a token could
// claim) and an anonymous caller go to Next.
func TestInProcessTrustsIdentityOnly(t *testing.T) {
	loader := &auth.Principal{Role: auth.RoleSystem, Subject: "ucp-loader"}
	lookalike := *loader
	ip := auth.InProcess{Next: refuseAll{}, Trusted: []*auth.Principal{loader}}
	a := auth.Access{Interaction: "create", Type: "StructureDefinition"}
	tests := []struct {
		name string
		p    *auth.Principal
		want outcome.Kind // Internal means allowed
	}{
		{"the loader itself", loader, outcome.Internal},
		{"a copy of it", &lookalike, outcome.Forbidden},
		{"anonymous", nil, outcome.Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.p != nil {
				ctx = auth.NewContext(ctx, tt.p)
			}
			err := ip.Authorize(ctx, a)
			if got := outcome.KindOf(err); (err == nil) != (tt.want == outcome.Internal) || err != nil && got != tt.want {
				t.Errorf("Authorize = %v, want kind %v", err, tt.want)
			}
		})
	}
}
