package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/auth/devissuer"
)

// TestServePlanVisibility: through the real wiring (tokens, policy,
// care-plan read rules), urgent care and systems see approved, current
// plans only, and nothing of the others through versions, history, _has or
// their approval records; a patient reads their own plan's document and
// not another's.
func TestServePlanVisibility(t *testing.T) {
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true, DemoPatients: 25,
		MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
	srv := serveTest(t, cfg)
	clinical := token(t, srv, auth.RoleClinical)

	type res struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Subject struct {
			Reference string `json:"reference"`
		} `json:"subject"`
		Meta struct {
			VersionID string `json:"versionId"`
		} `json:"meta"`
	}
	search := func(tok, query string) (float64, []res) {
		t.Helper()
		code, _, b := call(t, "GET", srv.base+query, tok, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", query, code, b)
		}
		var bundle struct {
			Total float64
			Entry []struct{ Resource res }
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		var out []res
		for _, e := range bundle.Entry {
			out = append(out, e.Resource)
		}
		return bundle.Total, out
	}
	// The demo's plans, as a clinician sees them: one of each state.
	var draft, revoked, active res
	_, plans := search(clinical, "/CarePlan?_count=1000")
	for _, p := range plans {
		switch {
		case p.Status == "draft" && draft.ID == "":
			draft = p
		case p.Status == "revoked" && p.Meta.VersionID != "1" && revoked.ID == "":
			revoked = p
		case p.Status == "active" && active.ID == "":
			active = p
		}
	}
	if draft.ID == "" || revoked.ID == "" || active.ID == "" {
		t.Fatalf("the demo lacks a draft (%q), a revoked plan with history (%q) or an active plan (%q)", draft.ID, revoked.ID, active.ID)
	}

	t.Run("urgent care and systems", func(t *testing.T) {
		for _, role := range []auth.Role{auth.RoleView, auth.RoleSystem} {
			tok := token(t, srv, role)
			for _, path := range []string{
				"/CarePlan/" + draft.ID,
				"/CarePlan/" + draft.ID + "/_history/1",
				"/CarePlan/" + revoked.ID,
				"/CarePlan/" + revoked.ID + "/_history/1",
				"/CarePlan/" + revoked.ID + "/_history/" + revoked.Meta.VersionID,
			} {
				if code, _, b := call(t, "GET", srv.base+path, tok, nil); code != 404 || !strings.Contains(string(b), "OperationOutcome") {
					t.Errorf("%s: GET %s = %d %s, want 404", role, path, code, b)
				}
			}
			for _, q := range []string{
				"/CarePlan/" + revoked.ID + "/_history",
				"/CarePlan?_id=" + draft.ID,
				"/CarePlan?_id=" + draft.ID + "&_summary=count",
				"/Patient?_has:CarePlan:subject:_id=" + revoked.ID,
				"/Patient?_has:CarePlan:subject:_id=" + draft.ID,
				"/Provenance?target=CarePlan/" + revoked.ID,
			} {
				if total, got := search(tok, q); total != 0 || len(got) != 0 {
					t.Errorf("%s: GET %s: %d resources (total %v), want none", role, q, len(got), total)
				}
			}
			if total, got := search(tok, "/Patient?_has:CarePlan:subject:_id="+active.ID); total != 1 || len(got) != 1 {
				t.Errorf("%s: the patient of an active plan through _has: %d (total %v), want 1", role, len(got), total)
			}
		}
		// A clinician sees them all.
		if total, _ := search(clinical, "/Provenance?target=CarePlan/"+revoked.ID); total == 0 {
			t.Errorf("clinician: no approval of the revoked plan")
		}
		if code, _, b := call(t, "GET", srv.base+"/CarePlan/"+revoked.ID+"/_history/1", clinical, nil); code != 200 {
			t.Errorf("clinician: vread of the revoked plan: %d %s", code, b)
		}
	})

	t.Run("a patient's own document", func(t *testing.T) {
		me, _ := strings.CutPrefix(active.Subject.Reference, "Patient/")
		_, mine := search(clinical, "/Composition?subject=Patient/"+me)
		var theirs []res
		for _, p := range plans {
			if p.Subject.Reference != active.Subject.Reference && p.Status == "active" {
				if _, theirs = search(clinical, "/Composition?subject="+p.Subject.Reference); len(theirs) > 0 {
					break
				}
			}
		}
		if len(mine) == 0 || len(theirs) == 0 {
			t.Fatalf("the demo lacks plan documents: %d of Patient/%s, %d of another", len(mine), me, len(theirs))
		}
		tok, err := srv.dev.Mint(devissuer.TokenRequest{Role: auth.RolePatient, Patient: me})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, path string
			want       int
		}{
			{"own document", "/Composition/" + mine[0].ID + "/$document", 200},
			{"own Composition", "/Composition/" + mine[0].ID, 200},
			{"another's document", "/Composition/" + theirs[0].ID + "/$document", 403},
			{"another's Composition", "/Composition/" + theirs[0].ID, 403},
		} {
			code, _, b := call(t, "GET", srv.base+tc.path, tok.AccessToken, nil)
			if code != tc.want {
				t.Errorf("%s: GET %s = %d %s, want %d", tc.name, tc.path, code, b, tc.want)
			}
			if code == 200 && tc.want == 200 && strings.HasSuffix(tc.path, "$document") && !strings.Contains(string(b), `"type":"document"`) {
				t.Errorf("%s: not a document: %.200s", tc.name, b)
			}
		}
	})
}
