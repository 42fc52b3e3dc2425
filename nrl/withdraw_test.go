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

// die records patient pid's death with publishing off.
func (w *world) dieOff(pid string) {
	w.t.Helper()
	ctx := auth.NewContext(context.Background(), clinician)
	pat, err := w.off.Read(ctx, "Patient", pid)
	if err != nil {
		w.t.Fatal(err)
	}
	dead, err := resource.Parse(pat.JSON)
	if err != nil {
		w.t.Fatal(err)
	}
	dead["deceasedDateTime"] = "2026-12-04T03:00:00Z"
	if _, err := w.off.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "Patient", ID: pid, Resource: dead}); err != nil {
		w.t.Fatal(err)
	}
}

// A plan that stopped being shared while publishing was off loses its
// pointer when publishing is back on, whatever stopped it; a plan still
// shared keeps its own; and the removals are queued once however often the
// server starts.
func TestBackfillWithdrawsStalePointers(t *testing.T) {
	w := newWorld(t)
	period := map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-12-05T10:00:00Z"}
	plans := map[string]map[string]any{}
	nhs := map[string]string{"kept": "9000000009", "revoked": "9000000017", "completed": "9000000025",
		"error": "9000000033", "consent": "9000000041", "died": "9000000068"}
	for pid, n := range nhs {
		plans[pid] = w.seed(pid, n)
		w.put(plans[pid])
	}
	w.run()
	for pid, n := range nhs {
		if diff := cmp.Diff([]string{nrl.MasterFor(base, "plan-"+pid, 1)}, w.masters(n)); diff != "" {
			t.Fatalf("%s published (-want +got):\n%s", pid, diff)
		}
	}

	// Publishing off: nothing tells NRL.
	w.putOff(with(plans["revoked"], "status", "revoked", "period", period))
	w.putOff(with(plans["completed"], "status", "completed", "period", period))
	w.putOff(with(plans["error"], "status", "entered-in-error"))
	w.putOff(consent("consent", "c-consent-2", profiles.CodeConsentWithdrawn, "deny", "2026-12-01T09:00:00Z"))
	w.dieOff("died")
	if n := w.run(); n != 0 {
		t.Fatalf("publishing off: %d jobs sent, want 0", n)
	}

	// Publishing on again (the next start).
	if n := w.backfill(); n != 5 {
		t.Errorf("backfill queued %d jobs, want 5 (a removal per plan no longer shared)", n)
	}
	w.run()
	for pid, n := range nhs {
		want := []string{}
		if pid == "kept" {
			want = []string{nrl.MasterFor(base, "plan-kept", 1)}
		}
		if diff := cmp.Diff(want, w.masters(n)); diff != "" {
			t.Errorf("pointers of %s after the backfill (-want +got):\n%s", pid, diff)
		}
	}
	// The start after: every removal is already queued (and done).
	if n := w.backfill(); n != 0 {
		t.Errorf("second backfill queued %d jobs, want 0", n)
	}
	if n := w.run(); n != 0 {
		t.Errorf("second run finished %d jobs, want 0", n)
	}

	// Re-approved after its revocation: published anew, and the removal
	// queued for version 1 never takes the new pointer.
	w.put(with(plans["revoked"], "status", "active", "description", "Reinstated"))
	w.run()
	if n := w.backfill(); n != 0 {
		t.Errorf("backfill after the re-approval queued %d jobs, want 0", n)
	}
	w.run()
	if diff := cmp.Diff([]string{nrl.MasterFor(base, "plan-revoked", 3)}, w.masters(nhs["revoked"])); diff != "" {
		t.Errorf("after the re-approval (-want +got):\n%s", diff)
	}
}

// A pointer of this service the publisher finds on NRL for another plan of
// the patient is deleted when that plan is no longer shared, and kept while
// it is: one no job recorded (its answer lost, then the plan revoked while
// publishing was off) would otherwise stay on NRL for good.
func TestPublisherSweepsUnsharedPointers(t *testing.T) {
	w := newWorld(t)
	const nhs = "9000000009"
	old := w.seed("pat", nhs)
	old["id"] = "plan-old"
	w.putOff(old)
	w.putOff(with(old, "status", "revoked", "period", map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-12-05T10:00:00Z"}))
	cfg := nrl.PointerConfig{ODS: ods, PracticeSetting: nrl.DefaultPracticeSetting, BaseURL: base}
	cl := &nrl.Client{Base: w.sandbox.URL, ODS: ods}
	stray := nrl.Build(cfg, nrl.PlanVersion{PlanID: "plan-old", Version: 1, NHSNumber: nhs, Type: profiles.CodeEndOfLifeCarePlan,
		Composition: "lost", Approved: "2026-11-01T10:00:00Z"})
	if _, err := cl.Create(context.Background(), "test", stray); err != nil {
		t.Fatal(err)
	}
	// Another service's pointer to a plan id of the same name: not ours.
	other := nrl.Build(nrl.PointerConfig{ODS: ods, PracticeSetting: nrl.DefaultPracticeSetting, BaseURL: "https://elsewhere.example.nhs.uk/fhir"},
		nrl.PlanVersion{PlanID: "plan-old", Version: 1, NHSNumber: nhs, Type: profiles.CodeEndOfLifeCarePlan, Composition: "x", Approved: "2026-11-01T10:00:00Z"})
	if _, err := cl.Create(context.Background(), "test", other); err != nil {
		t.Fatal(err)
	}
	// A second plan, still shared, published with publishing on.
	shared := w.seed("pat", nhs)
	shared["id"] = "plan-shared"
	w.put(shared)
	w.run()

	// The patient's new plan, approved: its job finds the stray pointer.
	plan := w.seed("pat", nhs)
	w.put(plan)
	w.run()
	want := []string{other.Master(), nrl.MasterFor(base, "plan-shared", 1), nrl.MasterFor(base, "plan-pat", 1)}
	if diff := cmp.Diff(want, w.masters(nhs)); diff != "" {
		t.Errorf("pointers after the publish (-want +got):\n%s", diff)
	}
}

func TestPlanOfMaster(t *testing.T) {
	for _, tc := range []struct{ master, want string }{
		{nrl.MasterFor(base, "p1", 3), "p1"},
		{base + "/CarePlan/p1/_history/x", ""},
		{base + "/CarePlan/p1", ""},
		{base + "/CarePlan//_history/1", ""},
		{base + "/CarePlan/a/b/_history/1", ""},
		{"https://elsewhere.example/fhir/CarePlan/p1/_history/1", ""},
		{"", ""},
	} {
		if got := nrl.PlanOfMaster(base+"/", tc.master); got != tc.want {
			t.Errorf("PlanOfMaster(%q) = %q, want %q", tc.master, got, tc.want)
		}
	}
}
