package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/fhir/resource"
)

// supporting lists the plan's supportingInfo references as stored.
func (e *env) supporting(id string) []string {
	e.t.Helper()
	v, err := e.st.Read(context.Background(), "CarePlan", id)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := resource.Parse(v.JSON)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range resource.List(res["supportingInfo"]) {
		out = append(out, resource.Str(r.(map[string]any), "reference"))
	}
	return out
}

// The remove buttons take a key contact or an anticipatory medicine off
// the plan and nothing else: any other section, or one the plan does not
// hold, is refused in words and changes nothing; a role that may not write
// is refused too.
func TestRemoveTakesOnlyAContactOrMedicineOffThePlan(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	before := strings.Join(e.supporting("ex-careplan"), " ")
	_, version := e.planStatus("ex-careplan")
	for _, tc := range []struct {
		role auth.Role
		ref  string
		want int
	}{
		{auth.RoleClinical, "Observation/ex-cpr-dnacpr", http.StatusBadRequest},
		{auth.RoleClinical, "Flag/ex-adrt-flag", http.StatusBadRequest},
		{auth.RoleClinical, "RelatedPerson/not-on-the-plan", http.StatusBadRequest},
		{auth.RoleClinical, "", http.StatusBadRequest},
		{auth.RoleView, "MedicationStatement/ex-med-morphine", http.StatusForbidden},
	} {
		code, body := e.postForm(tc.role, "/app/plans/ex-careplan/sections", url.Values{"section": {"remove"}, "ref": {tc.ref}}, true)
		if code != tc.want || strings.Contains(body, "problem with the service") {
			t.Errorf("%s removing %q: %d, want %d with a page in words", tc.role, tc.ref, code, tc.want)
		}
	}
	if got := strings.Join(e.supporting("ex-careplan"), " "); got != before {
		t.Fatalf("refused removals changed the plan's sections:\n got %s\nwant %s", got, before)
	}
	if _, v := e.planStatus("ex-careplan"); v != version {
		t.Fatalf("refused removals wrote version %d of the plan", v)
	}
	for _, ref := range []string{"MedicationStatement/ex-med-morphine", "RelatedPerson/ex-key-contact"} {
		code, _ := e.postForm(auth.RoleClinical, "/app/plans/ex-careplan/sections", url.Values{"section": {"remove"}, "ref": {ref}}, true)
		if code != http.StatusSeeOther {
			t.Fatalf("clinician removing %s: %d, want 303 back to the form", ref, code)
		}
		for _, r := range e.supporting("ex-careplan") {
			if r == ref {
				t.Errorf("%s is still on the plan after its removal", ref)
			}
		}
		// The section itself stays, versioned: earlier versions of the
		// plan reference it.
		typ, id, _ := strings.Cut(ref, "/")
		if _, err := e.st.Read(context.Background(), typ, id); err != nil {
			t.Errorf("removing %s from the plan deleted it: %v", ref, err)
		}
	}
}

// "No lasting power of attorney" takes the plan's LPA and its attorney off
// the plan, and nothing else; the attorney cannot be removed as if a key
// contact, apart from the LPA.
func TestNoLPATakesTheLPAOffThePlan(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	lpa := url.Values{"section": {"lpa"}, "lpa": {"http://snomed.info/sct|816361000000101"}, "attorney_given": {"Chidi"},
		"attorney_family": {"Okafor"}, "attorney_phone": {"07700 900456"}, "lpa_where": {"With the attorney"}}
	if code, body := e.postForm(auth.RoleClinical, "/app/plans/ex-careplan/sections", lpa, true); code != http.StatusSeeOther {
		t.Fatalf("saving an LPA: %d\n%s", code, body)
	}
	var flag, attorney string
	for _, r := range e.supporting("ex-careplan") {
		switch {
		case strings.HasPrefix(r, "Flag/") && r != "Flag/ex-adrt-flag":
			flag = r
		case strings.HasPrefix(r, "RelatedPerson/") && r != "RelatedPerson/ex-key-contact":
			attorney = r
		}
	}
	if flag == "" || attorney == "" {
		t.Fatalf("after saving an LPA the plan references %v, want its Flag and attorney", e.supporting("ex-careplan"))
	}
	if code, _ := e.postForm(auth.RoleClinical, "/app/plans/ex-careplan/sections", url.Values{"section": {"remove"}, "ref": {attorney}}, true); code != http.StatusBadRequest {
		t.Errorf("removing the attorney as a key contact: %d, want 400", code)
	}
	if code, body := e.postForm(auth.RoleClinical, "/app/plans/ex-careplan/sections", url.Values{"section": {"lpa"}, "lpa": {"none"}}, true); code != http.StatusSeeOther {
		t.Fatalf("saying there is no LPA: %d\n%s", code, body)
	}
	got := strings.Join(e.supporting("ex-careplan"), " ")
	if strings.Contains(got, flag) || strings.Contains(got, attorney) {
		t.Errorf("after \"no LPA\" the plan still references its LPA or attorney: %s", got)
	}
	for _, keep := range []string{"RelatedPerson/ex-key-contact", "Flag/ex-adrt-flag", "Observation/ex-cpr-dnacpr"} {
		if !strings.Contains(got, keep) {
			t.Errorf("\"no LPA\" took %s off the plan too: %s", keep, got)
		}
	}
}
