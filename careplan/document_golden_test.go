package careplan

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

var update = flag.Bool("update", false, "rewrite testdata/approval.json from approve")

// The Composition and Provenance written with an approval are pinned: the
// JSON stored for each must stay what it was (the Composition's id aside,
// which is new every time).
func TestApprovalGolden(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	p := &Plans{cfg: Config{Now: func() time.Time { return at }}}
	plan := map[string]any{
		"resourceType": "CarePlan", "id": "cp1", "status": "active", "intent": "plan",
		"title": "Plan for <b>Ann</b>", "description": "Keep comfortable at home",
		"category": []any{map[string]any{"coding": []any{map[string]any{"system": profiles.SystemSNOMED,
			"code": profiles.CodeAdvanceCarePlan, "display": "Advance care plan"}}, "text": "ACP"}},
		"author":   map[string]any{"reference": "Practitioner/pr2", "display": "Dr Author"},
		"activity": []any{map[string]any{"detail": map[string]any{"description": "Call the GP", "status": "not-started"}}},
	}
	cond := map[string]any{"resourceType": "Condition", "id": "c1",
		"code": map[string]any{"text": "Heart failure"}, "clinicalStatus": map[string]any{"text": "active"}}
	cpr := map[string]any{"resourceType": "Observation", "id": "o1", "status": "final",
		"code":                 map[string]any{"coding": []any{map[string]any{"system": profiles.SystemSNOMED, "code": profiles.CodeResuscitationStatus}}, "text": "CPR"},
		"valueCodeableConcept": map[string]any{"text": "Not for CPR"}, "effectiveDateTime": "2026-01-01T10:00:00Z"}
	gone := map[string]any{"resourceType": "Condition", "id": "c2", "verificationStatus": map[string]any{"text": "x"}, "status": "entered-in-error"}
	secs := &sections{
		addresses:  []section{{v: &store.Version{Type: "Condition", ID: "c1", VersionID: 3}, res: cond}, {v: &store.Version{Type: "Condition", ID: "c2", VersionID: 1}, res: gone}},
		supporting: []section{{v: &store.Version{Type: "Observation", ID: "o1", VersionID: 1}, res: cpr}},
	}
	cs := consent{state: consentPermit, id: "cons1", ref: "Consent/cons1/_history/2"}
	got := map[string]any{}
	for name, who := range map[string]approver{
		"known approver":   {who: reference{Reference: "Practitioner/pr1", Display: "Dr Approver"}, known: true},
		"unknown approver": {who: reference{Display: "unknown (no authenticated user)"}},
		"sds approver":     {who: reference{Display: "ucp demo data loader", Identifier: &identifier{System: profiles.SystemSDSUserID, Value: "ucp-demo-loader"}}},
	} {
		op := &service.WriteOp{Interaction: "update", Type: "CarePlan", ID: "cp1", Resource: plan, Version: 4}
		extra, err := p.approve(op, plan, "pat1", secs, cs, who)
		if err != nil {
			t.Fatal(err)
		}
		if len(extra) != 2 {
			t.Fatalf("%s: %d resources, want a Composition and a Provenance", name, len(extra))
		}
		// Whoever approved, the document's attester and the Provenance's
		// agent are the same party: the pages read one, the history the
		// other.
		attester := resource.Obj(resource.List(extra[0]["attester"])[0].(map[string]any), "party")
		agent := resource.Obj(resource.List(extra[1]["agent"])[0].(map[string]any), "who")
		if diff := cmp.Diff(agent, attester); diff != "" {
			t.Errorf("%s: Composition attester party differs from the Provenance agent (-agent +attester):\n%s", name, diff)
		}
		compID := resource.ID(extra[0])
		if len(compID) != 36 {
			t.Errorf("%s: Composition id %q, want a UUID", name, compID)
		}
		for i, res := range extra {
			b := strings.ReplaceAll(string(resource.Marshal(res)), compID, "COMPOSITION-ID")
			var m map[string]any
			if err := json.Unmarshal([]byte(b), &m); err != nil {
				t.Fatal(err)
			}
			got[name+" "+[]string{"Composition", "Provenance"}[i]] = m
		}
	}
	path := filepath.Join("testdata", "approval.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("approval resources (-want +got):\n%s", diff)
	}
}
