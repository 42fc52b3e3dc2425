package nrl_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/careplan"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/internal/resttest"
	"ucp/nrl"
	"ucp/nrl/nrltest"
	"ucp/profiles"
)

const (
	ods  = "X26"
	base = "https://ucp.example.nhs.uk/fhir"
)

var clinician = &auth.Principal{Role: auth.RoleClinical, Subject: "dr", FHIRUser: "Practitioner/dr", Name: "Dr Jones"}

// world is a store with the care-plan rules and the NRL outbox, a sandbox
// NRL and a publisher sending to it, on a clock the test moves.
type world struct {
	t       testing.TB
	svc     *service.Service
	off     *service.Service // the same store with publishing off
	sandbox *nrltest.Sandbox
	pub     *nrl.Publisher
	now     time.Time
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldStability(t, nrl.StabilityStatic)
}

// newWorldStability is newWorld publishing pointers of this stability.
func newWorldStability(t testing.TB, stability string) *world {
	t.Helper()
	return newWorldPointers(t, stability, false)
}

// newWorldPointers is newWorld publishing pointers of this stability, with
// the FHIR document as a second content item when structured (to a sandbox
// that accepts it).
func newWorldPointers(t testing.TB, stability string, structured bool) *world {
	t.Helper()
	sb := nrltest.StartWith(t, nrltest.Options{Structured: structured})
	st, reg := resttest.OpenStore(t), resttest.NewRegistry(t)
	plans, err := careplan.New(careplan.Config{Store: st, Registry: reg, Validator: careplan.NewValidator(st, reg)})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, sandbox: sb, now: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	outbox := &nrl.Outbox{Next: plans, Store: st, Now: clock,
		Pointer: nrl.PointerConfig{ODS: ods, PracticeSetting: nrl.DefaultPracticeSetting, BaseURL: base, Stability: stability, Structured: structured}}
	w.svc, err = service.New(service.Config{Store: st, Registry: reg, WriteInterceptor: outbox, ReadInterceptor: plans, Operations: plans.Operations()})
	if err != nil {
		t.Fatal(err)
	}
	w.off, err = service.New(service.Config{Store: st, Registry: reg, WriteInterceptor: nrl.JobGuard{Next: plans}, ReadInterceptor: plans})
	if err != nil {
		t.Fatal(err)
	}
	w.pub, err = nrl.NewPublisher(nrl.PublisherConfig{
		Service: w.svc, NRL: &nrl.Client{Base: sb.URL, ODS: ods}, BaseURL: base, Now: clock,
		BaseDelay: time.Minute, MaxDelay: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v := sb.Violations(); len(v) > 0 {
			t.Errorf("the sandbox saw requests that break NRL's specification or rules:\n%s", strings.Join(v, "\n"))
		}
	})
	return w
}

func (w *world) put(res map[string]any) {
	w.t.Helper()
	ctx := auth.NewContext(context.Background(), clinician)
	typ, id := res["resourceType"].(string), res["id"].(string)
	parsed, err := resource.Parse(resource.Marshal(res))
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.svc.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: typ, ID: id, Resource: parsed, CreateOnMissing: true}); err != nil {
		w.t.Fatalf("PUT %s/%s: %v", typ, id, err)
	}
}

// run sends what is due and returns how many jobs finished.
func (w *world) run() int {
	w.t.Helper()
	n, err := w.pub.RunOnce(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func ref(r string) map[string]any { return map[string]any{"reference": r} }

// seed stores patient pid with an NHS number, consent to share and the
// plan's sections, and returns the plan, approved (active).
func (w *world) seed(pid, nhs string) map[string]any {
	w.put(map[string]any{"resourceType": "Practitioner", "id": "dr", "name": []any{map[string]any{"family": "Jones"}}})
	w.put(map[string]any{"resourceType": "Patient", "id": pid,
		"identifier": []any{map[string]any{"system": profiles.SystemNHSNumber, "value": nhs}},
		"name":       []any{map[string]any{"family": "Smith", "given": []any{"Ann"}}}})
	w.put(consent(pid, "c-"+pid, profiles.CodeConsentGiven, "permit", "2026-10-01T09:00:00Z"))
	w.put(map[string]any{"resourceType": "Condition", "id": "cond-" + pid, "code": map[string]any{"text": "Metastatic lung cancer"}, "subject": ref("Patient/" + pid)})
	w.put(map[string]any{"resourceType": "ClinicalImpression", "id": "prog-" + pid, "status": "completed", "subject": ref("Patient/" + pid),
		"prognosisCodeableConcept": []any{resttest.Concept(profiles.SystemSNOMED, profiles.CodePrognosisWeeks, "Weeks")}})
	w.put(map[string]any{"resourceType": "Observation", "id": "cpr-" + pid, "status": "final",
		"code": resttest.Concept(profiles.SystemSNOMED, profiles.CodeResuscitationStatus, "Resuscitation status"), "subject": ref("Patient/" + pid),
		"effectiveDateTime": "2026-11-01T10:00:00Z", "performer": []any{ref("Practitioner/dr")},
		"valueCodeableConcept": resttest.Concept(profiles.SystemSNOMED, profiles.CodeNotForCPR, "Not for CPR")})
	return map[string]any{
		"resourceType": "CarePlan", "id": "plan-" + pid,
		"meta":   map[string]any{"profile": []any{profiles.ProfileCarePlan}},
		"status": "active", "intent": "plan",
		"category":       []any{resttest.Concept(profiles.SystemSNOMED, profiles.CodeEndOfLifeCarePlan, "End of life care plan")},
		"title":          "Urgent care plan",
		"subject":        ref("Patient/" + pid),
		"period":         map[string]any{"start": "2026-11-01T10:00:00Z"},
		"author":         ref("Practitioner/dr"),
		"addresses":      []any{ref("Condition/cond-" + pid)},
		"supportingInfo": []any{ref("ClinicalImpression/prog-" + pid), ref("Observation/cpr-" + pid)},
		"activity": []any{map[string]any{"detail": map[string]any{"status": "not-started",
			"description": "Call the palliative care team"}}},
	}
}

func consent(pid, id, code, provision, when string) map[string]any {
	return map[string]any{
		"resourceType": "Consent", "id": id, "status": "active",
		"scope":      resttest.Concept(profiles.SystemConsentScope, "patient-privacy", "Privacy Consent"),
		"category":   []any{resttest.Concept(profiles.SystemSNOMED, code, "")},
		"patient":    ref("Patient/" + pid),
		"dateTime":   when,
		"performer":  []any{ref("Patient/" + pid)},
		"policyRule": resttest.Concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", "opt-in"),
		"provision":  map[string]any{"type": provision},
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// masters lists the masterIdentifiers of an NHS number's pointers.
func (w *world) masters(nhs string) []string {
	out := []string{}
	for _, p := range w.sandbox.Pointers(nhs) {
		out = append(out, p.Master())
	}
	return out
}

func TestPointerFollowsPlan(t *testing.T) {
	w := newWorld(t)
	plan := w.seed("pat", "9000000009")
	w.put(plan)
	if n := w.run(); n != 1 {
		t.Fatalf("first approval: %d jobs finished, want 1", n)
	}
	ptrs := w.sandbox.Pointers("9000000009")
	if len(ptrs) != 1 {
		t.Fatalf("after approval: %d pointers, want 1", len(ptrs))
	}
	p := ptrs[0]
	got := []string{p.TypeCode(), p.Type.Coding[0].Display, p.Category[0].Coding[0].Code, p.Custodian.Identifier.Value, p.Author[0].Identifier.Value,
		p.Context.PracticeSetting.Coding[0].Code, p.Master(), p.Content[0].Attachment.ContentType, p.Content[0].Format.Code}
	want := []string{"736373009", "End of life care plan", "734163000", ods, ods, nrl.DefaultPracticeSetting,
		base + "/CarePlan/plan-pat/_history/1", "application/pdf", "urn:nhs-ic:unstructured"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pointer mismatch (-want +got):\n%s", diff)
	}
	if u := p.Content[0].Attachment.URL; !strings.HasPrefix(u, base+"/_nrl/pdf/") {
		t.Errorf("pointer URL %q: want the PDF of the approval's Composition", u)
	}
	first := p.ID

	// A new approved version supersedes the pointer.
	w.put(with(plan, "description", "Reviewed"))
	w.run()
	ptrs = w.sandbox.Pointers("9000000009")
	if diff := cmp.Diff([]string{base + "/CarePlan/plan-pat/_history/2"}, w.masters("9000000009")); diff != "" {
		t.Errorf("after a new version (-want +got):\n%s", diff)
	}
	if len(ptrs) == 1 && ptrs[0].ID == first {
		t.Errorf("the new version kept pointer %s; want it superseded", first)
	}

	// Revocation deletes it.
	w.put(with(plan, "status", "revoked", "period", map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-12-05T10:00:00Z"}))
	w.run()
	if diff := cmp.Diff([]string{}, w.masters("9000000009")); diff != "" {
		t.Errorf("after revocation (-want +got):\n%s", diff)
	}
	if got := w.sandbox.Creates(); got != 2 {
		t.Errorf("NRL saw %d creates, want 2", got)
	}
}

func TestConsentWithdrawalRemoves(t *testing.T) {
	w := newWorld(t)
	w.put(w.seed("pat", "9000000017"))
	w.run()
	if len(w.sandbox.Pointers("9000000017")) != 1 {
		t.Fatal("no pointer after approval")
	}
	w.put(consent("pat", "c-pat-2", profiles.CodeConsentWithdrawn, "deny", "2026-12-01T09:00:00Z"))
	w.run()
	if diff := cmp.Diff([]string{}, w.masters("9000000017")); diff != "" {
		t.Errorf("after consent withdrawal (-want +got):\n%s", diff)
	}
}

func TestPatientDeathRemoves(t *testing.T) {
	w := newWorld(t)
	w.put(w.seed("pat", "9000000025"))
	w.run()
	w.put(map[string]any{"resourceType": "Patient", "id": "pat", "deceasedDateTime": "2026-12-05T03:00:00Z",
		"identifier": []any{map[string]any{"system": profiles.SystemNHSNumber, "value": "9000000025"}}})
	w.run()
	if diff := cmp.Diff([]string{}, w.masters("9000000025")); diff != "" {
		t.Errorf("after death (-want +got):\n%s", diff)
	}
}

// NRL down for a while, then up: every pointer arrives, in order, once.
func TestOutageDrains(t *testing.T) {
	w := newWorld(t)
	nhs := []string{"9000000009", "9000000017", "9000000025"}
	w.sandbox.Down(1 << 20)
	for i, n := range nhs {
		pid := fmt.Sprintf("p%d", i)
		plan := w.seed(pid, n)
		w.put(plan)
		w.put(with(plan, "description", "Second version"))
		w.put(with(plan, "description", "Third version"))
	}
	for i := range 5 {
		// The first pass finishes the jobs a newer version overtook
		// (without NRL); the current versions' wait for NRL.
		want := 0
		if i == 0 {
			want = 6
		}
		if got := w.run(); got != want {
			t.Fatalf("pass %d: %d jobs finished while NRL is down, want %d", i, got, want)
		}
		w.now = w.now.Add(2 * time.Hour)
	}
	if d := w.pub.Depth(); d != 3 {
		t.Errorf("queue depth %d, want 3", d)
	}
	if a := w.pub.OldestAge(); a < 8*time.Hour {
		t.Errorf("oldest job age %s, want at least 8h", a)
	}
	w.sandbox.Down(0)
	if got := w.run(); got != 3 {
		t.Errorf("after NRL came back, %d jobs finished, want 3", got)
	}
	for i, n := range nhs {
		if diff := cmp.Diff([]string{fmt.Sprintf("%s/CarePlan/plan-p%d/_history/3", base, i)}, w.masters(n)); diff != "" {
			t.Errorf("patient %d (-want +got):\n%s", i, diff)
		}
	}
	// Once, and never a stale version: the jobs of the versions a newer
	// one replaced while NRL was away are finished without sending.
	if got := w.sandbox.Creates(); got != 3 {
		t.Errorf("NRL saw %d creates, want 3", got)
	}
}

// A create whose answer is lost is not repeated: the retry finds the pointer.
func TestNoDuplicateAfterLostAnswer(t *testing.T) {
	w := newWorld(t)
	w.sandbox.DropNextCreate()
	w.put(w.seed("pat", "9000000033"))
	if got := w.run(); got != 0 {
		t.Fatalf("%d jobs finished although the answer was lost", got)
	}
	w.now = w.now.Add(time.Hour)
	if got := w.run(); got != 1 {
		t.Fatalf("retry: %d jobs finished, want 1", got)
	}
	if got := len(w.sandbox.Pointers("9000000033")); got != 1 {
		t.Errorf("%d pointers, want 1", got)
	}
	if got := w.sandbox.Creates(); got != 1 {
		t.Errorf("NRL saw %d creates, want 1", got)
	}
}

// A permanent NRL error fails the job with NRL's words, visible to admins,
// and writes an AuditEvent.
func TestPermanentError(t *testing.T) {
	w := newWorld(t)
	w.sandbox.Refuse("9000000009", "Invalid NHS number: not known to PDS")
	w.put(w.seed("pat", "9000000009"))
	if got := w.run(); got != 1 {
		t.Fatalf("%d jobs finished, want 1 (failed)", got)
	}
	ctx := auth.NewContext(context.Background(), nrl.Principal)
	failed, err := nrl.Failed(ctx, w.svc)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "Invalid NHS number: not known to PDS") {
		t.Fatalf("failed jobs %+v: want one with NRL's words", failed)
	}
	evs, err := w.svc.Find(ctx, "AuditEvent", "entity=Task/"+failed[0].ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !strings.Contains(string(evs[0].JSON), "not known to PDS") {
		t.Errorf("AuditEvents of the failed job: %d, want 1 with NRL's words", len(evs))
	}
	// Failed for good: no retry later.
	w.now = w.now.Add(24 * time.Hour)
	if got := w.run(); got != 0 {
		t.Errorf("a failed job was tried again (%d finished)", got)
	}
}

// Past the horizon a transient failure fails the job.
func TestHorizon(t *testing.T) {
	w := newWorld(t)
	w.sandbox.Down(1 << 20)
	w.put(w.seed("pat", "9000000009"))
	w.run()
	w.now = w.now.Add(nrl.DefaultHorizon + time.Hour)
	if got := w.run(); got != 1 {
		t.Fatalf("past the horizon: %d jobs finished, want 1 (failed)", got)
	}
	failed, err := nrl.Failed(context.Background(), w.svc)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "gave up after 2 attempts") {
		t.Errorf("failed jobs %+v: want one that gave up after 2 attempts", failed)
	}
}

// A draft, and a write the rules refuse, make no job.
func TestNoJobWithoutApproval(t *testing.T) {
	w := newWorld(t)
	plan := w.seed("pat", "9000000009")
	w.put(with(plan, "status", "draft"))
	ctx := auth.NewContext(context.Background(), &auth.Principal{Role: auth.RoleView, Subject: "crew"})
	if _, err := w.svc.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "CarePlan", ID: "plan-pat", Resource: plan}); err == nil {
		t.Fatal("a viewer approved a plan")
	}
	open, err := nrl.Open(context.Background(), w.svc)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 0 {
		t.Errorf("%d jobs, want none", len(open))
	}
}

// compositionOf is the Composition id a pointer's URL names.
func compositionOf(t testing.TB, p nrl.Pointer) string {
	t.Helper()
	u := p.Content[0].Attachment.URL
	i := strings.LastIndex(u, "/")
	if i < 0 || !strings.Contains(u, "/_nrl/pdf/") {
		t.Fatalf("pointer URL %q names no document", u)
	}
	return u[i+1:]
}

// The PDF a pointer names carries the NHS number and the CPR decision, and
// stops being served when the plan is superseded or withdrawn.
func TestPointedDocument(t *testing.T) {
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext (Debian's poppler-utils) is not installed; .ci/run installs it")
	}
	w := newWorld(t)
	plan := w.seed("pat", "9000000009")
	w.put(plan)
	w.run()
	comp := compositionOf(t, w.sandbox.Pointers("9000000009")[0])
	ctx := auth.NewContext(context.Background(), clinician)
	docs := nrl.Documents{Reader: w.svc}
	d, err := docs.Load(ctx, comp)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nrl.RenderPDF(d)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if d := os.Getenv("NRL_PDF_DIR"); d != "" {
		dir = d // to look at the PDF
	}
	file := filepath.Join(dir, "plan.pdf")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-layout", file, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	pages := strings.Split(string(out), "\f")
	for _, want := range []string{"900 000 0009", "Ann SMITH", "CPR decision", "Not for CPR", "Version 1 of CarePlan/plan-pat", "Dr Jones"} {
		if !strings.Contains(pages[0], want) {
			t.Errorf("page 1 of the PDF lacks %q:\n%s", want, pages[0])
		}
	}

	// A new version: the old document is gone, naming the current version.
	w.put(with(plan, "description", "Reviewed"))
	if _, err := docs.Load(ctx, comp); outcome.KindOf(err) != outcome.Gone || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("superseded document: %v, want Gone naming version 2", err)
	}
	w.run()
	comp = compositionOf(t, w.sandbox.Pointers("9000000009")[0])
	if _, err := docs.Load(ctx, comp); err != nil {
		t.Errorf("the current pointer's document: %v", err)
	}
	// Withdrawn consent: not found.
	w.put(consent("pat", "c-pat-2", profiles.CodeConsentWithdrawn, "deny", "2026-12-01T09:00:00Z"))
	viewer := auth.NewContext(context.Background(), &auth.Principal{Role: auth.RoleView, Subject: "crew"})
	if _, err := docs.Load(viewer, comp); outcome.KindOf(err) != outcome.NotFound {
		t.Errorf("document of a plan whose consent was withdrawn: %v, want NotFound", err)
	}
	// Revoked: not found, even for a clinician who may still read the plan.
	w.put(with(plan, "status", "revoked", "period", map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-12-05T10:00:00Z"}))
	if _, err := docs.Load(ctx, comp); outcome.KindOf(err) != outcome.NotFound {
		t.Errorf("document of a revoked plan: %v, want NotFound", err)
	}
}

// Only the publisher writes outbox jobs: a clinician (who may write Tasks)
// can neither forge one nor change one.
func TestJobGuard(t *testing.T) {
	w := newWorld(t)
	w.sandbox.Down(1 << 20)
	w.put(w.seed("pat", "9000000009"))
	open, err := nrl.Open(context.Background(), w.svc)
	if err != nil || len(open) != 1 {
		t.Fatalf("open jobs %v, %v: want 1", open, err)
	}
	ctx := auth.NewContext(context.Background(), clinician)
	forged := *open[0]
	forged.ID, forged.NHSNumber = "", "9000000017"
	for _, wr := range []*service.Write{
		{Interaction: "create", Method: "POST", Type: "Task", Resource: forged.Task()},
		{Interaction: "update", Method: "PUT", Type: "Task", ID: open[0].ID, Resource: with(open[0].Task(), "status", "completed")},
		{Interaction: "update", Method: "PUT", Type: "Task", ID: open[0].ID, Resource: map[string]any{"resourceType": "Task", "id": open[0].ID, "status": "completed", "intent": "order"}},
		{Interaction: "delete", Method: "DELETE", Type: "Task", ID: open[0].ID},
	} {
		if _, err := w.svc.Write(ctx, wr); outcome.KindOf(err) != outcome.Forbidden {
			t.Errorf("a clinician's %s of an NRL job: %v, want Forbidden", wr.Interaction, err)
		}
	}
}

// A plan approved and revoked while NRL was away is never published.
func TestRevokedWhileDownNotPublished(t *testing.T) {
	w := newWorld(t)
	w.sandbox.Down(1 << 20)
	plan := w.seed("pat", "9000000009")
	w.put(plan)
	w.put(with(plan, "status", "revoked", "period", map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-12-05T10:00:00Z"}))
	w.run()
	w.sandbox.Down(0)
	w.now = w.now.Add(time.Hour)
	w.run()
	if got := w.sandbox.Creates(); got != 0 {
		t.Errorf("NRL saw %d creates of a revoked plan, want none", got)
	}
	if open, err := nrl.Open(context.Background(), w.svc); err != nil || len(open) != 0 {
		t.Errorf("open jobs %v (%v), want none", open, err)
	}
}
