package nrl_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/nrl"
	"ucp/profiles"
)

// putOff writes as a clinician with NRL publishing off.
func (w *world) putOff(res map[string]any) {
	w.t.Helper()
	save := w.svc
	w.svc = w.off
	defer func() { w.svc = save }()
	w.put(res)
}

func (w *world) backfill() int {
	w.t.Helper()
	n, err := nrl.Backfill(context.Background(), w.svc,
		nrl.PointerConfig{ODS: ods, PracticeSetting: nrl.DefaultPracticeSetting, BaseURL: base}, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// Plans approved while publishing was off are published once when it is
// turned on: only those shared now, each once however often the backfill
// runs.
func TestBackfill(t *testing.T) {
	w := newWorld(t)
	// Shared.
	shared := w.seed("a", "9000000009")
	w.putOff(shared)
	// Approved, then consent withdrawn.
	w.putOff(w.seed("b", "9000000017"))
	w.putOff(consent("b", "c-b-2", profiles.CodeConsentWithdrawn, "deny", "2026-12-01T09:00:00Z"))
	// Approved, then revoked.
	revoked := w.seed("c", "9000000025")
	w.putOff(revoked)
	w.putOff(with(revoked, "status", "revoked", "period", map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-12-05T10:00:00Z"}))
	// Approved, then the patient died.
	w.putOff(w.seed("d", "9000000033"))
	pat, err := w.off.Read(auth.NewContext(context.Background(), clinician), "Patient", "d")
	if err != nil {
		t.Fatal(err)
	}
	dead, err := resource.Parse(pat.JSON)
	if err != nil {
		t.Fatal(err)
	}
	dead["deceasedDateTime"] = "2026-12-04T03:00:00Z"
	if _, err := w.off.Write(auth.NewContext(context.Background(), clinician), &service.Write{Interaction: "update", Method: "PUT", Type: "Patient", ID: "d", Resource: dead}); err != nil {
		t.Fatal(err)
	}
	if n := w.run(); n != 0 {
		t.Fatalf("publishing off: %d jobs sent, want 0", n)
	}

	if n := w.backfill(); n != 1 {
		t.Errorf("backfill queued %d jobs, want 1 (the one shared plan)", n)
	}
	w.run()
	for nhs, want := range map[string][]string{
		"9000000009": {nrl.MasterFor(base, "plan-a", 1)},
		"9000000017": {}, "9000000025": {}, "9000000033": {},
	} {
		if diff := cmp.Diff(want, w.masters(nhs)); diff != "" {
			t.Errorf("pointers of %s (-want +got):\n%s", nhs, diff)
		}
	}
	// Again (the next start): nothing queued, nothing doubled.
	if n := w.backfill(); n != 0 {
		t.Errorf("second backfill queued %d jobs, want 0", n)
	}
	w.run()
	if diff := cmp.Diff([]string{nrl.MasterFor(base, "plan-a", 1)}, w.masters("9000000009")); diff != "" {
		t.Errorf("after a second backfill (-want +got):\n%s", diff)
	}
	// A version approved while off again: the backfill supersedes the pointer.
	w.putOff(with(shared, "description", "Reviewed"))
	if n := w.backfill(); n != 1 {
		t.Errorf("backfill after a new version queued %d jobs, want 1", n)
	}
	w.run()
	if diff := cmp.Diff([]string{nrl.MasterFor(base, "plan-a", 2)}, w.masters("9000000009")); diff != "" {
		t.Errorf("after the new version (-want +got):\n%s", diff)
	}
}
