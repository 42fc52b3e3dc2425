package nrl_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/nrl"
	"ucp/profiles"
)

// pdfText is the text of a PDF, by pdftotext.
func pdfText(t *testing.T, b []byte) string {
	t.Helper()
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext (Debian's poppler-utils) is not installed; .ci/run installs it")
	}
	file := filepath.Join(t.TempDir(), "plan.pdf")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-layout", file, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// A dynamic pointer is made once, at the first approval; its URL names the
// plan and serves whichever version is approved now, and the pointer goes
// when the plan stops being shared.
func TestDynamicPointer(t *testing.T) {
	w := newWorldStability(t, nrl.StabilityDynamic)
	plan := w.seed("pat", "9000000009")
	w.put(plan)
	w.run()
	ptrs := w.sandbox.Pointers("9000000009")
	if len(ptrs) != 1 {
		t.Fatalf("%d pointers, want 1", len(ptrs))
	}
	first := ptrs[0]
	if diff := cmp.Diff(base+"/"+nrl.CurrentPath("plan-pat"), first.Content[0].Attachment.URL); diff != "" {
		t.Errorf("dynamic pointer URL (-want +got):\n%s", diff)
	}
	if got := first.Stability(); got != nrl.StabilityDynamic {
		t.Errorf("ContentStability %q, want dynamic", got)
	}
	ctx := auth.NewContext(context.Background(), clinician)
	docs := nrl.Documents{Reader: w.svc}
	version := func() string {
		t.Helper()
		d, err := docs.LoadCurrent(ctx, "plan-pat")
		if err != nil {
			t.Fatal(err)
		}
		b, err := nrl.RenderPDF(d)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(pdfText(t, b), "\f")[0]
	}
	if p := version(); !strings.Contains(p, "Version 1 of CarePlan/plan-pat") {
		t.Errorf("page 1 before the new version:\n%s", p)
	}

	// A new approved version: the same pointer, the same URL, the new version.
	w.put(with(plan, "description", "Reviewed"))
	w.run()
	ptrs = w.sandbox.Pointers("9000000009")
	if len(ptrs) != 1 || ptrs[0].ID != first.ID {
		t.Errorf("after a new version: %d pointers (first %s), want the one pointer %s kept", len(ptrs), ptrs[0].ID, first.ID)
	}
	if p := version(); !strings.Contains(p, "Version 2 of CarePlan/plan-pat") {
		t.Errorf("page 1 after the new version:\n%s", p)
	}

	// Revoked: the pointer goes and the URL is not found.
	w.put(with(plan, "status", "revoked", "period", map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-12-05T10:00:00Z"}))
	w.run()
	if n := len(w.sandbox.Pointers("9000000009")); n != 0 {
		t.Errorf("%d pointers after revocation, want 0", n)
	}
	if _, err := docs.LoadCurrent(ctx, "plan-pat"); outcome.KindOf(err) != outcome.NotFound {
		t.Errorf("current document of a revoked plan: %v, want NotFound", err)
	}
}

// A plan withdrawn from sharing is not found through its dynamic URL.
func TestDynamicWithdrawn(t *testing.T) {
	w := newWorldStability(t, nrl.StabilityDynamic)
	w.put(w.seed("pat", "9000000009"))
	w.run()
	w.put(consent("pat", "c-pat-2", profiles.CodeConsentWithdrawn, "deny", "2026-12-01T09:00:00Z"))
	viewer := auth.NewContext(context.Background(), &auth.Principal{Role: auth.RoleView, Subject: "crew"})
	if _, err := (nrl.Documents{Reader: w.svc}).LoadCurrent(viewer, "plan-pat"); outcome.KindOf(err) != outcome.NotFound {
		t.Errorf("current document after consent withdrawn: %v, want NotFound", err)
	}
}
