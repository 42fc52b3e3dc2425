package audit_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/store"
	"ucp/store/sqlite"
)

func mustSetup(tb testing.TB) (store.Store, *search.Registry) {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "ucp.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	reg, err := search.NewRegistry()
	if err != nil {
		tb.Fatal(err)
	}
	return st, reg
}

func clinician() *auth.Principal {
	return &auth.Principal{Issuer: "https://cis2", Subject: "s1", UserID: "555021935107", Name: "Dr Who",
		Role: auth.RoleClinical, RoleCode: "S8000:G8000:R8000", Org: "RX1", ClientID: "app-1", TokenID: "jti-1"}
}

func reqCtx(p *auth.Principal) context.Context {
	return auth.NewContext(context.Background(), p)
}

// newCall is the Call a door makes for one interaction.
func newCall() *service.Call { return &service.Call{Disclosure: &service.Disclosure{}} }

// search runs a FHIR search through the registry and store, as the REST
// layer does.
func mustSearch(tb testing.TB, st store.Store, reg *search.Registry, typ, query string) []map[string]any {
	tb.Helper()
	vals, err := url.ParseQuery(query)
	if err != nil {
		tb.Fatal(err)
	}
	req, err := reg.Parse(context.Background(), typ, vals, true)
	if err != nil {
		tb.Fatal(err)
	}
	q := req.Query
	q.Count = 1000
	res, err := st.Search(context.Background(), q)
	if err != nil {
		tb.Fatal(err)
	}
	var out []map[string]any
	for _, v := range res.Versions {
		m, err := resource.Parse(v.JSON)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func mustPut(tb testing.TB, st store.Store, reg *search.Registry, res map[string]any) *store.Version {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	resource.SetMeta(res, resource.ID(res), 1, now)
	entries, patients, err := reg.Extract(res)
	if err != nil {
		tb.Fatal(err)
	}
	vs, err := st.Write(context.Background(), []store.Change{{Type: resource.Type(res), ID: resource.ID(res), VersionID: 1,
		LastUpdated: now, Method: "PUT", JSON: resource.Marshal(res), Entries: entries, Patients: patients}})
	if err != nil {
		tb.Fatal(err)
	}
	return &vs[0]
}

// hideAll is a read filter that hides every version.
type hideAll struct{}

func (hideAll) AllowRead(context.Context, *store.Version, service.Purpose, *service.Call) error {
	return outcome.Errorf(outcome.Forbidden, "not shared")
}

func TestSinkRecordsEveryRead(t *testing.T) {
	st, reg := mustSetup(t)
	plan := mustPut(t, st, reg, map[string]any{"resourceType": "CarePlan", "id": "cp1", "status": "active", "intent": "plan",
		"subject": map[string]any{"reference": "Patient/p1"}})
	s, err := audit.Open(t.TempDir(), st, reg, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reader := audit.CollectingReader{Patients: audit.NewPatients(reg)}
	const n = 25
	for i := range n {
		ctx, call := reqCtx(clinician()), newCall()
		if err := reader.AllowRead(ctx, plan, service.Disclose, call); err != nil {
			t.Fatal(err)
		}
		s.Record(ctx, service.AuditRecord{Access: service.Access{Interaction: "search-type", Type: "CarePlan", Query: "subject=Patient/p1&i=" + string(rune('a'+i))},
			Call: call, Method: "GET", Path: "/fhir/CarePlan", Status: 200, Time: time.Now()})
	}
	// A version only probed (counted for a search's total, not returned)
	// names no patient.
	other := mustPut(t, st, reg, map[string]any{"resourceType": "CarePlan", "id": "cp3", "status": "active", "intent": "plan",
		"subject": map[string]any{"reference": "Patient/p3"}})
	ctx, call := reqCtx(clinician()), newCall()
	if err := reader.AllowRead(ctx, other, service.Count, call); err != nil {
		t.Fatal(err)
	}
	s.Record(ctx, service.AuditRecord{Access: service.Access{Interaction: "search-type", Type: "CarePlan", Query: "status=active&_summary=count"},
		Call: call, Method: "GET", Path: "/fhir/CarePlan", Status: 200, Time: time.Now()})
	// A refused read names the patient too.
	ctx = reqCtx(clinician())
	s.Record(ctx, service.AuditRecord{Access: service.Access{Interaction: "read", Type: "Patient", ID: "p2"}, Status: 403,
		Err: outcome.Errorf(outcome.Forbidden, "no"), Time: time.Now()})
	// So does a refused read or vread of another type: the patient whose
	// plan was hidden from the caller is the one whose record it concerns.
	hidden := mustPut(t, st, reg, map[string]any{"resourceType": "CarePlan", "id": "cp4", "status": "revoked", "intent": "plan",
		"subject": map[string]any{"reference": "Patient/p4"}})
	hiding := audit.CollectingReader{Next: hideAll{}, Patients: audit.NewPatients(reg)}
	for _, interaction := range []string{"read", "vread"} {
		ctx, call := reqCtx(clinician()), newCall()
		err := hiding.AllowRead(ctx, hidden, service.Disclose, call)
		s.Record(ctx, service.AuditRecord{Access: service.Access{Interaction: interaction, Type: "CarePlan", ID: "cp4"}, Call: call, Status: 403,
			Err: err, Time: time.Now()})
	}
	// Capabilities are not audited.
	s.Record(ctx, service.AuditRecord{Access: service.Access{Interaction: "capabilities"}, Status: 200})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := mustSearch(t, st, reg, "AuditEvent", "patient=Patient/p1"); len(got) != n {
		t.Fatalf("AuditEvent?patient=Patient/p1: got %d, want %d", len(got), n)
	}
	if got := mustSearch(t, st, reg, "AuditEvent", ""); len(got) != n+4 {
		t.Fatalf("all AuditEvents: got %d, want %d", len(got), n+4)
	}
	for _, sub := range []string{"read", "vread"} {
		if got := mustSearch(t, st, reg, "AuditEvent", "patient=Patient/p4&outcome=4&subtype="+sub); len(got) != 1 {
			t.Errorf("refused %s of a plan of p4: %d AuditEvents name p4, want 1", sub, len(got))
		}
	}
	if got := mustSearch(t, st, reg, "AuditEvent", "patient=Patient/p3"); len(got) != 0 {
		t.Errorf("a probed plan's patient is named by %d AuditEvents, want 0", len(got))
	}
	got := mustSearch(t, st, reg, "AuditEvent", "patient=Patient/p2&outcome=4")
	if len(got) != 1 {
		t.Fatalf("refused read of p2: got %d", len(got))
	}
	ev := got[0]
	if ev["action"] != "R" || ev["outcome"] != "4" {
		t.Errorf("action/outcome = %v/%v", ev["action"], ev["outcome"])
	}
	today := time.Now().UTC().Format("2006-01-02")
	if got := mustSearch(t, st, reg, "AuditEvent", "date="+today+"&agent:identifier="+url.QueryEscape(audit.SysSDSUser+"|555021935107")); len(got) != n+4 {
		t.Errorf("AuditEvent?date&agent:identifier: got %d, want %d", len(got), n+4)
	}
	if got := mustSearch(t, st, reg, "AuditEvent", "subtype=search-type"); len(got) != n+1 {
		t.Errorf("subtype=search-type: got %d", len(got))
	}
}

func TestWriteInterceptorAuditsInTheWrite(t *testing.T) {
	st, reg := mustSetup(t)
	s, err := audit.Open(t.TempDir(), st, reg, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wi := audit.WriteInterceptor{Patients: audit.NewPatients(reg)}
	svc, err := service.New(service.Config{Store: st, Registry: reg, WriteInterceptor: wi})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		ctx, call := reqCtx(clinician()), newCall()
		id := "cp" + string(rune('a'+i))
		res := map[string]any{"resourceType": "CarePlan", "id": id, "status": "active", "intent": "plan",
			"subject": map[string]any{"reference": "Patient/p1"}}
		p, err := svc.For(call).Prepare(ctx, &service.Write{Interaction: "create", Method: "POST", Type: "CarePlan", ID: id, Resource: res}, service.View{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Extra) != 1 || p.Extra[0].Type != "AuditEvent" {
			t.Fatalf("Extra = %+v", p.Extra)
		}
		now := p.Change.LastUpdated
		if _, err := st.Write(ctx, p.Changes()); err != nil {
			t.Fatal(err)
		}
		// The rest layer then records the interaction: the sink must not
		// audit it a second time.
		s.Record(ctx, service.AuditRecord{Access: service.Access{Interaction: "create", Type: "CarePlan"}, Call: call, Status: 201, Time: now})
	}
	// A write the store rejected: the sink records the failure.
	ctx := reqCtx(clinician())
	if _, err := svc.Prepare(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "CarePlan", ID: "cpa", Resource: map[string]any{"resourceType": "CarePlan"}}, service.View{}); err != nil {
		t.Fatal(err)
	}
	s.Record(ctx, service.AuditRecord{Access: service.Access{Interaction: "update", Type: "CarePlan", ID: "cpa"}, Status: 409,
		Err: outcome.Errorf(outcome.Conflict, "version conflict"), Time: time.Now()})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := mustSearch(t, st, reg, "AuditEvent", "action=C&patient=Patient/p1"); len(got) != n {
		t.Fatalf("create AuditEvents: got %d, want %d", len(got), n)
	}
	if got := mustSearch(t, st, reg, "AuditEvent", "entity=CarePlan/cpa&outcome=4"); len(got) != 1 {
		t.Fatalf("failed update: got %d AuditEvents for CarePlan/cpa", len(got))
	}
	if got := mustSearch(t, st, reg, "AuditEvent", ""); len(got) != n+1 {
		t.Fatalf("total: got %d, want %d", len(got), n+1)
	}
}

func TestSinkSurvivesCrash(t *testing.T) {
	st, reg := mustSetup(t)
	dir := t.TempDir()
	s, err := audit.OpenManual(dir, st, reg)
	if err != nil {
		t.Fatal(err)
	}
	record := func(s *audit.Sink, n int) {
		for range n {
			s.Record(reqCtx(clinician()), service.AuditRecord{Access: service.Access{Interaction: "read", Type: "Patient", ID: "p1"}, Status: 200, Time: time.Now()})
		}
	}
	record(s, 10)
	// Some were stored before the crash, and the offset never recorded:
	// simulate by draining, then rewinding the offset file.
	if _, err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	record(s, 5)
	s.Abandon()
	if err := os.WriteFile(filepath.Join(dir, "audit.offset"), []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// And a torn last line, from a write cut short.
	f, err := os.OpenFile(filepath.Join(dir, "audit.journal"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"resourceType":"AuditEvent","id":"torn`)
	f.Close()

	s, err = audit.Open(dir, st, reg, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	record(s, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := mustSearch(t, st, reg, "AuditEvent", "patient=Patient/p1")
	if len(got) != 18 {
		t.Fatalf("after restart: got %d AuditEvents, want 18", len(got))
	}
	seen := map[string]bool{}
	for _, ev := range got {
		id := resource.ID(ev)
		if seen[id] {
			t.Fatalf("AuditEvent %s stored twice", id)
		}
		seen[id] = true
	}
	// Reopening a fully drained journal stores nothing again.
	s, err = audit.Open(dir, st, reg, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Pending() != 0 {
		t.Errorf("pending after clean close = %d", s.Pending())
	}
	s.Close()
}

func TestBreakGlassIsFlagged(t *testing.T) {
	st, reg := mustSetup(t)
	s, err := audit.Open(t.TempDir(), st, reg, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := clinician()
	p.Role = auth.RoleView
	ctx := auth.NewContext(context.Background(), p)
	s.Record(ctx, service.AuditRecord{Access: service.Access{Interaction: "read", Type: "Patient", ID: "p9"},
		Call: &service.Call{BreakGlass: "unconscious in ED", Disclosure: &service.Disclosure{}}, Status: 200, Time: time.Now()})
	s.Close()
	got := mustSearch(t, st, reg, "AuditEvent", "patient=Patient/p9")
	if len(got) != 1 {
		t.Fatalf("got %d", len(got))
	}
	b, _ := json.Marshal(got[0]["purposeOfEvent"])
	want := `[{"coding":[{"code":"BTG","display":"break the glass","system":"http://terminology.hl7.org/CodeSystem/v3-ActReason"}],"text":"unconscious in ED"}]`
	if string(b) != want {
		t.Errorf("purposeOfEvent = %s, want %s", b, want)
	}
}

func BenchmarkRecord(b *testing.B) {
	st, reg := mustSetup(b)
	s, err := audit.Open(b.TempDir(), st, reg, audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rec := service.AuditRecord{Access: service.Access{Interaction: "read", Type: "Patient", ID: "p1"}, Status: 200, Time: time.Now()}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			s.Record(reqCtx(clinician()), rec)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(32) // 32×GOMAXPROCS concurrent requests
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Record(reqCtx(clinician()), rec)
			}
		})
	})
}

// TestSyncIntervalSurvivesRestart checks the timer-fsync mode: a record is
// in the journal file when Record returns, so a crash of the server (not of
// the machine) loses nothing.
func TestSyncIntervalSurvivesRestart(t *testing.T) {
	st, reg := mustSetup(t)
	dir := t.TempDir()
	s, err := audit.Open(dir, st, reg, audit.Options{SyncInterval: time.Hour}) // the timer never fires here
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		s.Record(reqCtx(clinician()), service.AuditRecord{Access: service.Access{Interaction: "read", Type: "Patient", ID: "p2"}, Status: 200, Time: time.Now()})
	}
	s.Abandon() // a crash: no drain, no fsync
	s, err = audit.Open(dir, st, reg, audit.Options{SyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := mustSearch(t, st, reg, "AuditEvent", "patient=Patient/p2"); len(got) != 7 {
		t.Fatalf("after a crash in timer-fsync mode: %d AuditEvents, want 7", len(got))
	}
}

// TestDoorWithoutHTTP is how a door that is not the REST adapter (a web
// page handler) audits what it shows: it makes a service.Call, acts
// through Service.For(call), and records the interaction with the same
// call; the AuditEvent names the patients the search disclosed and the
// break-glass reason, though nothing travelled in the context but the
// principal.
func TestDoorWithoutHTTP(t *testing.T) {
	st, reg := mustSetup(t)
	for _, p := range []string{"p1", "p2"} {
		mustPut(t, st, reg, map[string]any{"resourceType": "CarePlan", "id": "cp-" + p, "status": "active", "intent": "plan",
			"subject": map[string]any{"reference": "Patient/" + p}})
	}
	s, err := audit.Open(t.TempDir(), st, reg, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(service.Config{Store: st, Registry: reg,
		ReadInterceptor: audit.CollectingReader{Patients: audit.NewPatients(reg)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := reqCtx(clinician())
	call := &service.Call{BreakGlass: "collapsed at home", Disclosure: &service.Disclosure{}}
	res, err := svc.For(call).Search(ctx, service.SearchRequest{Type: "CarePlan", Params: url.Values{"status": {"active"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 2 {
		t.Fatalf("%d matches, want 2", len(res.Matches))
	}
	s.Record(ctx, service.AuditRecord{Access: service.Access{Interaction: "search-type", Type: "CarePlan", Query: "status=active"},
		Call: call, Method: "GET", Path: "/app/plans", Status: 200, Time: time.Now()})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := mustSearch(t, st, reg, "AuditEvent", "")
	if len(got) != 1 {
		t.Fatalf("%d AuditEvents, want 1", len(got))
	}
	var patients []string
	for _, e := range got[0]["entity"].([]any) {
		if ref, _ := pathOf(e, "what", "reference").(string); strings.HasPrefix(ref, "Patient/") {
			patients = append(patients, ref)
		}
	}
	sort.Strings(patients)
	if diff := cmp.Diff([]string{"Patient/p1", "Patient/p2"}, patients); diff != "" {
		t.Errorf("patients audited (-want +got):\n%s", diff)
	}
	if text, _ := pathOf(got[0]["purposeOfEvent"].([]any)[0], "text").(string); text != "collapsed at home" {
		t.Errorf("purposeOfEvent text %q, want the break-glass reason", text)
	}
}

// pathOf walks maps by keys.
func pathOf(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}
