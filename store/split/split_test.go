package split_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/store"
	"ucp/store/split"
	"ucp/store/sqlite"
	"ucp/store/storetest"
)

var auditParams = []string{"patient", "agent", "entity", "date", "type", "subtype", "outcome"}

// open is a split store over two SQLite files, AuditEvent in the second,
// as ucp serve opens it; main and side are the stores underneath.
func open(t testing.TB) (s *split.Store, main, side store.Store) {
	t.Helper()
	dir := t.TempDir()
	m, err := sqlite.Open(filepath.Join(dir, "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := sqlite.OpenWith(filepath.Join(dir, "ucp-audit.db"), sqlite.Options{CompressJSON: true})
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s = split.New(m, a, split.Options{Types: []string{"AuditEvent"}, Params: auditParams})
	t.Cleanup(func() { s.Close() })
	return s, m, a
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _, _ := open(t)
		return s
	})
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func body(typ, id string, v int64) []byte {
	return fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"meta":{"versionId":"%d"}}`, typ, id, v)
}

func patient(id string, at time.Time) store.Change {
	return store.Change{Type: "Patient", ID: id, VersionID: 1, LastUpdated: at, Method: "PUT", JSON: body("Patient", id, 1),
		Entries: []store.Entry{{Param: "name", Type: store.String, Norm: id, Exact: id}}}
}

// event is an AuditEvent about patient p, with one entry the side store
// does not index (action).
func event(id, p string, at time.Time) store.Change {
	return store.Change{Type: "AuditEvent", ID: id, VersionID: 1, LastUpdated: at, Method: "POST", JSON: body("AuditEvent", id, 1),
		Patients: []string{p},
		Entries: []store.Entry{
			{Param: "patient", Type: store.Reference, RefType: "Patient", RefID: p},
			{Param: "entity", Type: store.Reference, RefType: "Patient", RefID: p},
			{Param: "action", Type: store.Token, Code: "R"},
			{Param: "date", Type: store.Date, Low: at, High: at.Add(time.Microsecond)},
		}}
}

func ids(vs []store.Version) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Type+"/"+v.ID)
	}
	return out
}

func TestWriteRoutesByType(t *testing.T) {
	ctx := context.Background()
	s, main, side := open(t)
	got, err := s.Write(ctx, []store.Change{event("e1", "p1", t0), patient("p1", t0)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"AuditEvent/e1", "Patient/p1"}, ids(got)); diff != "" {
		t.Errorf("Write's versions (-want +got):\n%s", diff)
	}
	if _, err := side.Read(ctx, "AuditEvent", "e1"); err != nil {
		t.Errorf("the AuditEvent is not in the side store: %v", err)
	}
	if _, err := main.Read(ctx, "AuditEvent", "e1"); store.KindOf(err) != store.NotFound {
		t.Errorf("the main store read the AuditEvent: %v, want NotFound", err)
	}
	if _, err := side.Read(ctx, "Patient", "p1"); store.KindOf(err) != store.NotFound {
		t.Errorf("the side store read the Patient: %v, want NotFound", err)
	}
	for _, typ := range []string{"AuditEvent", "Patient"} {
		id := map[string]string{"AuditEvent": "e1", "Patient": "p1"}[typ]
		if v, err := s.Read(ctx, typ, id); err != nil || string(v.JSON) != string(body(typ, id, 1)) {
			t.Errorf("Read %s/%s = %v, %v", typ, id, v, err)
		}
	}
	res, err := s.Search(ctx, store.Query{Types: []string{"AuditEvent"}, Count: 10,
		Where: []store.Clause{{Any: []store.Cond{{Param: "patient", Type: store.Reference, RefType: "Patient", RefID: "p1"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"AuditEvent/e1"}, ids(res.Versions)); diff != "" {
		t.Errorf("AuditEvent?patient=Patient/p1 (-want +got):\n%s", diff)
	}
	// action is not indexed in the side store: refused, never an empty answer.
	_, err = s.Search(ctx, store.Query{Types: []string{"AuditEvent"}, Count: 10,
		Where: []store.Clause{{Any: []store.Cond{{Param: "action", Type: store.Token, Code: "R"}}}}})
	if store.KindOf(err) != store.Unsupported {
		t.Errorf("AuditEvent?action=R: %v, want Unsupported", err)
	}
	// Nor were its rows stored: asked directly, the side store finds nothing.
	res, err = side.Search(ctx, store.Query{Types: []string{"AuditEvent"}, Count: 10,
		Where: []store.Clause{{Any: []store.Cond{{Param: "action", Type: store.Token, Code: "R"}}}}})
	if err != nil || len(res.Versions) != 0 {
		t.Errorf("the side store indexed action: %v, %v", ids(res.Versions), err)
	}
}

// TestFailedWriteRetractsItsAudit: when the main half of a write fails,
// its AuditEvent, already committed in the side store, is retracted, so
// an audit search never shows a write that did not happen.
func TestFailedWriteRetractsItsAudit(t *testing.T) {
	ctx := context.Background()
	s, _, _ := open(t)
	if _, err := s.Write(ctx, []store.Change{patient("p1", t0)}); err != nil {
		t.Fatal(err)
	}
	stale := patient("p1", t0.Add(time.Second)) // PrevVersion 0: p1 exists, so Conflict
	_, err := s.Write(ctx, []store.Change{event("e2", "p1", t0.Add(time.Second)), stale})
	if store.KindOf(err) != store.Conflict {
		t.Fatalf("Write = %v, want Conflict", err)
	}
	if _, err := s.Read(ctx, "AuditEvent", "e2"); store.KindOf(err) != store.Gone {
		t.Errorf("Read of the failed write's AuditEvent = %v, want Gone", err)
	}
	res, err := s.Search(ctx, store.Query{Types: []string{"AuditEvent"}, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Versions) != 0 {
		t.Errorf("AuditEvent search shows %v after the write failed", ids(res.Versions))
	}
}

func TestCrossStoreReachesRefused(t *testing.T) {
	ctx := context.Background()
	s, _, _ := open(t)
	for name, q := range map[string]store.Query{
		"AuditEvent chained to Patient under :not": {Types: []string{"AuditEvent"}, Count: 1, Where: []store.Clause{{Any: []store.Cond{{
			Param: "patient", Type: store.Reference, Not: true, Chain: &store.Chain{Type: "Patient",
				Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "p"}}}}}}}}}},
		"Patient _has AuditEvent under :not": {Types: []string{"Patient"}, Count: 1, Where: []store.Clause{{Any: []store.Cond{{
			Param: "_has", Not: true, Has: &store.Has{Type: "AuditEvent", Param: "patient",
				Where: []store.Clause{{Any: []store.Cond{{Param: "date", Type: store.Date, Prefix: store.Ge, Low: t0, High: t0.Add(time.Second)}}}}}}}}}},
		"system search sorted": {Types: []string{"Patient", "AuditEvent"}, Count: 1, Sort: []store.SortKey{{Param: "_lastUpdated"}}},
	} {
		if _, err := s.Search(ctx, q); store.KindOf(err) != store.Unsupported {
			t.Errorf("%s: %v, want Unsupported", name, err)
		}
	}
}

func TestIncludeAcrossStores(t *testing.T) {
	ctx := context.Background()
	s, _, _ := open(t)
	prov := store.Change{Type: "Provenance", ID: "v1", VersionID: 1, LastUpdated: t0, Method: "POST", JSON: body("Provenance", "v1", 1),
		Entries: []store.Entry{
			{Param: "entity", Type: store.Reference, RefType: "AuditEvent", RefID: "e1"},
			{Param: "entity", Type: store.Reference, RefType: "Patient", RefID: "p1"},
		}}
	if _, err := s.Write(ctx, []store.Change{patient("p1", t0), event("e1", "p1", t0), prov}); err != nil {
		t.Fatal(err)
	}
	type inc struct {
		Path int
		From string
		To   string
	}
	flat := func(got []store.Inclusion) []inc {
		var out []inc
		for _, g := range got {
			out = append(out, inc{g.Path, g.From.String(), g.Version.Type + "/" + g.Version.ID})
		}
		return out
	}
	got, err := s.Included(ctx, []store.Ref{{Type: "AuditEvent", ID: "e1"}, {Type: "Provenance", ID: "v1"}},
		[]store.IncludePath{{SourceType: "AuditEvent", Param: "patient"}, {SourceType: "Provenance", Param: "entity"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []inc{
		{0, "AuditEvent/e1", "Patient/p1"},
		{1, "Provenance/v1", "Patient/p1"},
		{1, "Provenance/v1", "AuditEvent/e1"},
	}
	if diff := cmp.Diff(want, flat(got)); diff != "" {
		t.Errorf("Included (-want +got):\n%s", diff)
	}
}

// TestSystemHistoryAndSearchSpanBoth pages through a system history and a
// search of both stores' types two at a time.
func TestSystemHistoryAndSearchSpanBoth(t *testing.T) {
	ctx := context.Background()
	s, _, _ := open(t)
	var changes []store.Change
	for i := range 5 {
		changes = append(changes, patient(fmt.Sprintf("p%d", i), t0.Add(time.Duration(2*i)*time.Second)),
			event(fmt.Sprintf("e%d", i), fmt.Sprintf("p%d", i), t0.Add(time.Duration(2*i+1)*time.Second)))
	}
	for _, c := range changes {
		if _, err := s.Write(ctx, []store.Change{c}); err != nil {
			t.Fatal(err)
		}
	}
	var hist []string
	cur := ""
	for range 20 {
		p, err := s.History(ctx, store.HistoryQuery{Count: 2, Cursor: cur})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 10 {
			t.Errorf("history total %d, want 10", p.Total)
		}
		hist = append(hist, ids(p.Versions)...)
		if cur = p.Next; cur == "" {
			break
		}
	}
	var want []string
	for i := 4; i >= 0; i-- {
		want = append(want, fmt.Sprintf("AuditEvent/e%d", i), fmt.Sprintf("Patient/p%d", i))
	}
	if diff := cmp.Diff(want, hist); diff != "" {
		t.Errorf("system history, newest first (-want +got):\n%s", diff)
	}

	var found []string
	cur = ""
	for range 20 {
		r, err := s.Search(ctx, store.Query{Types: []string{"Patient", "AuditEvent"}, Count: 3, Cursor: cur})
		if err != nil {
			t.Fatal(err)
		}
		if r.Total != 10 {
			t.Errorf("search total %d, want 10", r.Total)
		}
		found = append(found, ids(r.Versions)...)
		if cur = r.Next; cur == "" {
			break
		}
	}
	want = nil
	for i := range 5 {
		want = append(want, fmt.Sprintf("Patient/p%d", i))
	}
	for i := range 5 {
		want = append(want, fmt.Sprintf("AuditEvent/e%d", i))
	}
	if diff := cmp.Diff(want, found); diff != "" {
		t.Errorf("search of both, main store's first (-want +got):\n%s", diff)
	}
}

// TestChainAcrossStores: AuditEvent?patient.name=… (and agent:identifier,
// whose own-identifier chain reaches a Practitioner) is answered by
// searching the chained type in its store first, and
// Patient?_has:AuditEvent:… by searching the AuditEvents first.
func TestChainAcrossStores(t *testing.T) {
	ctx := context.Background()
	s, _, _ := open(t)
	if _, err := s.Write(ctx, []store.Change{patient("ann", t0), patient("bob", t0), event("e1", "ann", t0), event("e2", "bob", t0), event("e3", "ann", t0)}); err != nil {
		t.Fatal(err)
	}
	chain := func(name string) store.Query {
		return store.Query{Types: []string{"AuditEvent"}, Count: 10, Where: []store.Clause{{Any: []store.Cond{{
			Param: "patient", Type: store.Reference, Chain: &store.Chain{Type: "Patient",
				Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: name}}}}}}}}}}
	}
	for name, want := range map[string][]string{
		"ann": {"AuditEvent/e1", "AuditEvent/e3"},
		"bob": {"AuditEvent/e2"},
		"cy":  {},
	} {
		res, err := s.Search(ctx, chain(name))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, ids(res.Versions)); diff != "" {
			t.Errorf("AuditEvent?patient.name=%s (-want +got):\n%s", name, diff)
		}
		if res.Total != len(want) {
			t.Errorf("AuditEvent?patient.name=%s: total %d, want %d", name, res.Total, len(want))
		}
	}
	// Patient?_has:AuditEvent:patient:_id=…: the patients those events name.
	for ev, want := range map[string][]string{"e1": {"Patient/ann"}, "e2": {"Patient/bob"}, "nope": {}} {
		res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10, Where: []store.Clause{{Any: []store.Cond{{
			Param: "_has", Has: &store.Has{Type: "AuditEvent", Param: "patient",
				Where: []store.Clause{{Any: []store.Cond{{Param: "_id", Type: store.Token, Code: ev}}}}}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, ids(res.Versions)); diff != "" {
			t.Errorf("Patient?_has:AuditEvent:patient:_id=%s (-want +got):\n%s", ev, diff)
		}
	}
}

// FuzzCursor: a cursor of a search or history spanning both stores is
// either read or refused as Invalid; never a panic or another error.
func FuzzCursor(f *testing.F) {
	s, _, _ := open(f)
	ctx := context.Background()
	if _, err := s.Write(ctx, []store.Change{patient("p0", t0), event("e0", "p0", t0), patient("p1", t0), event("e1", "p1", t0)}); err != nil {
		f.Fatal(err)
	}
	r, err := s.Search(ctx, store.Query{Types: []string{"Patient", "AuditEvent"}, Count: 1})
	if err != nil {
		f.Fatal(err)
	}
	h, err := s.History(ctx, store.HistoryQuery{Count: 1})
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range []string{r.Next, h.Next, "split.", "split.e30", "split.eyJzaWRlIjp0cnVlLCJzIjoieCJ9", "x"} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, c string) {
		if c == "" {
			return
		}
		if _, err := s.Search(ctx, store.Query{Types: []string{"Patient", "AuditEvent"}, Count: 2, Cursor: c}); err != nil && store.KindOf(err) != store.Invalid {
			t.Errorf("Search cursor %q: %v, want Invalid or an answer", c, err)
		}
		if _, err := s.History(ctx, store.HistoryQuery{Count: 2, Cursor: c}); err != nil && store.KindOf(err) != store.Invalid {
			t.Errorf("History cursor %q: %v, want Invalid or an answer", c, err)
		}
	})
}
