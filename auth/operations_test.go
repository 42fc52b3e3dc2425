package auth_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/fhir/outcome"
)

// recordAccess is an Authorizer that allows everything and records what it
// was asked.
type recordAccess struct{ got []auth.Access }

func (r *recordAccess) Authorize(_ context.Context, a auth.Access) error {
	r.got = append(r.got, a)
	return nil
}

func TestOperationPolicy(t *testing.T) {
	system := &auth.Principal{Role: auth.RoleSystem}
	clinician := &auth.Principal{Role: auth.RoleClinical}
	op := func(name, typ, id string) auth.Access {
		return auth.Access{Interaction: "operation", Operation: name, Type: typ, ID: id}
	}
	as := func(a auth.Access, interaction string) *auth.Access {
		a.Interaction = interaction
		return &a
	}
	for _, tc := range []struct {
		name string
		who  *auth.Principal
		in   auth.Access
		want *auth.Access // what Next is asked; nil when refused before it
	}{
		{"not an operation", clinician, auth.Access{Interaction: "read", Type: "CarePlan", ID: "1"}, &auth.Access{Interaction: "read", Type: "CarePlan", ID: "1"}},
		{"$validate on an instance reads it", clinician, op("validate", "CarePlan", "1"), as(op("validate", "CarePlan", "1"), "read")},
		{"$validate on a type searches it", clinician, op("validate", "CarePlan", ""), as(op("validate", "CarePlan", ""), "search-type")},
		{"$everything reads the patient", clinician, op("everything", "Patient", "p1"), as(op("everything", "Patient", "p1"), "read")},
		{"an operation that writes is an update", clinician, op("approve", "CarePlan", "1"), as(op("approve", "CarePlan", "1"), "update")},
		{"$reindex is the policy's own", system, op("reindex", "", ""), &auth.Access{Interaction: "operation", Operation: "reindex"}},
		{"system $export searches everything", system, op("export", "", ""), as(op("export", "", ""), "search-system")},
		{"Group $export reads the Group", clinician, op("export", "Group", "g1"), as(op("export", "Group", "g1"), "read")},
		{"Patient $export by a system searches Patient", system, op("export", "Patient", ""), as(op("export", "Patient", ""), "search-type")},
		{"Patient $export by a clinician is refused", clinician, op("export", "Patient", ""), nil},
		{"$nrl-status searches the audit", clinician, op("nrl-status", "", ""), &auth.Access{Interaction: "search-type", Type: "AuditEvent", Operation: "nrl-status"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := &recordAccess{}
			err := auth.OperationPolicy{Next: next}.Authorize(auth.NewContext(context.Background(), tc.who), tc.in)
			if tc.want == nil {
				if outcome.KindOf(err) != outcome.Forbidden || len(next.got) != 0 {
					t.Fatalf("err %v, Next asked %v; want Forbidden before Next", err, next.got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]auth.Access{*tc.want}, next.got); diff != "" {
				t.Errorf("what Next was asked (-want +got):\n%s", diff)
			}
		})
	}
}
