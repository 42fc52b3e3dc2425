package export_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/bulk"
	"ucp/bulk/export"
	"ucp/careplan"
	"ucp/fhir/resource"
	"ucp/fhir/rest"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/internal/resttest"
	"ucp/store"
	"ucp/synth"
)

// principals are the callers the tests' token middleware knows, by token.
var principals = map[string]*auth.Principal{
	"system":   {Issuer: "test", Subject: "sys-1", ClientID: "sys-1", Role: auth.RoleSystem, Scopes: mustScopes("system/*.rs")},
	"system2":  {Issuer: "test", Subject: "sys-2", ClientID: "sys-2", Role: auth.RoleSystem, Scopes: mustScopes("system/*.rs")},
	"plans":    {Issuer: "test", Subject: "sys-3", ClientID: "sys-3", Role: auth.RoleSystem, Scopes: mustScopes("system/CarePlan.rs system/Patient.rs")},
	"clinical": {Issuer: "test", Subject: "dr-1", UserID: "dr-1", Role: auth.RoleClinical, Scopes: mustScopes("user/*.cruds")},
	"view":     {Issuer: "test", Subject: "crew-1", UserID: "crew-1", Role: auth.RoleView, Scopes: mustScopes("user/*.rs")},
}

func mustScopes(s string) auth.Scopes {
	ss, err := auth.ParseScopes(s)
	if err != nil {
		panic(err)
	}
	return ss
}

// policy is the auth policy as cmd/ucp adapts it: export at system level is
// a system-wide search, at Patient level a search of Patient, at Group
// level a read of the Group (and a download a search of its type).
type policy struct{ p *auth.Policy }

func (a policy) Authorize(ctx context.Context, x service.Access) error {
	acc := auth.Access{Interaction: x.Interaction, Type: x.Type, ID: x.ID, Query: x.Query}
	if x.Interaction == "operation" && x.Operation == "export" {
		switch {
		case x.Type == "":
			acc.Interaction = "search-system"
		case x.ID != "":
			acc.Interaction = "read"
		default:
			acc.Interaction = "search-type"
		}
	}
	return a.p.Authorize(ctx, acc)
}

// env is a real server: SQLite in a temp dir holding synthetic patients,
// the care-plan read rules, the export Manager, HTTP on loopback.
type env struct {
	*httptest.Server
	base  string
	st    store.Store
	reg   *search.Registry
	plans *careplan.Plans
	dir   string
	mgr   *export.Manager
	cfg   export.Config
}

// newEnv loads patients synthetic patients and starts a server; opts adjust
// the export Config.
func newEnv(tb testing.TB, patients int, opts ...func(*export.Config)) *env {
	tb.Helper()
	st, reg := resttest.OpenStore(tb), resttest.NewRegistry(tb)
	plans, err := careplan.New(careplan.Config{Store: st, Registry: reg, Validator: careplan.NewValidator(st, reg)})
	if err != nil {
		tb.Fatal(err)
	}
	if patients > 0 {
		var b bytes.Buffer
		if err := synth.Generate(synth.Options{Patients: patients, Seed: 1}, synth.NDJSONStream(&b)); err != nil {
			tb.Fatal(err)
		}
		im := &bulk.Importer{Store: st, Registry: reg, Rules: plans}
		stats, err := im.ImportNDJSON(context.Background(), &b, "synth.ndjson")
		if err != nil || stats.Rejected > 0 {
			tb.Fatalf("import: %v %+v", err, stats)
		}
	}
	e := &env{st: st, reg: reg, plans: plans, dir: filepath.Join(tb.TempDir(), "exports")}
	e.start(tb, opts...)
	return e
}

// start builds the Manager and the server (again, after a restart).
func (e *env) start(tb testing.TB, opts ...func(*export.Config)) {
	tb.Helper()
	types := append(e.reg.Types(), "Group")
	az := policy{auth.DefaultPolicy()}
	cfg := export.Config{
		Store: e.st, Registry: e.reg, Types: types, Authorizer: az, ReadInterceptor: e.plans,
		Dir: e.dir, Settle: -1, PageSize: 7, // small pages: the cursor is exercised
	}
	for _, o := range opts {
		o(&cfg)
	}
	mgr, err := export.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { mgr.Close() })
	srv, err := rest.New(rest.Config{
		Store: e.st, Registry: e.reg, Types: types, Authorizer: az, ReadInterceptor: e.plans,
		Operations: mgr.Operations(), Endpoints: endpoints(mgr.Routes()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	// The token middleware: a Bearer token names a principal.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if p := principals[tok]; p != nil {
			r = r.WithContext(auth.NewContext(r.Context(), p))
		}
		srv.ServeHTTP(w, r)
	})
	// After a restart, the same address: the jobs' URLs name it.
	ts := httptest.NewUnstartedServer(h)
	if e.Server != nil {
		ln, err := net.Listen("tcp", e.Server.Listener.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		ts.Listener.Close()
		ts.Listener = ln
	}
	ts.Start()
	e.Server = ts
	tb.Cleanup(ts.Close)
	e.base = e.Server.URL + "/fhir"
	e.mgr, e.cfg = mgr, cfg
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request as the principal named by token ("" for none); a path
// starting with "/" is below the base.
func (e *env) do(tb testing.TB, method, path, token, body string, headers ...string) resp {
	tb.Helper()
	if token != "" {
		headers = append([]string{resttest.Bearer(token)}, headers...)
	}
	u := path
	if strings.HasPrefix(u, "/") {
		u = e.base + path
	}
	r := resttest.Do(tb, method, u, body, headers...)
	return resp{r.Status, r.Header, r.Body}
}

const async = "Prefer: respond-async"

// kickoff starts an export and returns its status URL.
func (e *env) kickoff(tb testing.TB, method, path, token, body string, headers ...string) string {
	tb.Helper()
	r := e.do(tb, method, path, token, body, append([]string{async}, headers...)...)
	if r.status != http.StatusAccepted {
		tb.Fatalf("%s %s: status %d, want 202: %s", method, path, r.status, r.body)
	}
	loc := r.header.Get("Content-Location")
	if !strings.HasPrefix(loc, e.base+"/_bulk/") {
		tb.Fatalf("Content-Location %q is not a status URL below %s", loc, e.base)
	}
	return loc
}

type manifest struct {
	TransactionTime     string
	Request             string
	RequiresAccessToken bool
	Output, Error       []struct {
		Type, URL string
		Count     int
	}
}

// wait polls the status URL until the job is done and returns the final
// answer.
func (e *env) wait(tb testing.TB, loc, token string) resp {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.do(tb, "GET", loc, token, "")
		if r.status != http.StatusAccepted {
			return r
		}
		if r.header.Get("X-Progress") == "" || r.header.Get("Retry-After") == "" {
			tb.Fatalf("202 without X-Progress and Retry-After: %v", r.header)
		}
		if time.Now().After(deadline) {
			tb.Fatal("the export did not finish")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// complete waits for the job and returns its manifest.
func (e *env) complete(tb testing.TB, loc, token string) manifest {
	tb.Helper()
	r := e.wait(tb, loc, token)
	if r.status != http.StatusOK {
		tb.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	var m manifest
	if err := json.Unmarshal(r.body, &m); err != nil {
		tb.Fatal(err)
	}
	if !m.RequiresAccessToken || m.TransactionTime == "" || m.Request == "" {
		tb.Fatalf("manifest %s", r.body)
	}
	return m
}

// download fetches every output file and returns each resource line by
// "Type/id", checking the media type, the counts and that no resource is
// written twice.
func (e *env) download(tb testing.TB, m manifest, token string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	for _, f := range m.Output {
		r := e.do(tb, "GET", f.URL, token, "", "Accept: application/fhir+ndjson")
		if r.status != http.StatusOK {
			tb.Fatalf("GET %s: %d %s", f.URL, r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/fhir+ndjson" {
			tb.Errorf("Content-Type %q", ct)
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(r.body))
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			n++
			res, err := resource.Parse(sc.Bytes())
			if err != nil {
				tb.Fatalf("%s line %d: %v", f.URL, n, err)
			}
			if resource.Type(res) != f.Type {
				tb.Errorf("%s holds a %s", f.URL, resource.Type(res))
			}
			key := resource.Type(res) + "/" + resource.ID(res)
			if _, dup := out[key]; dup {
				tb.Errorf("%s exported twice", key)
			}
			out[key] = bytes.Clone(sc.Bytes())
		}
		if n != f.Count {
			tb.Errorf("%s: %d lines, manifest says %d", f.URL, n, f.Count)
		}
	}
	return out
}

// search returns the ids ("Type/id") a search by token finds, every page.
func (e *env) search(tb testing.TB, query, token string) map[string]bool {
	tb.Helper()
	ids := map[string]bool{}
	u := e.base + query
	for u != "" {
		r := e.do(tb, "GET", u, token, "")
		if r.status != http.StatusOK {
			tb.Fatalf("GET %s: %d %s", u, r.status, r.body)
		}
		var b struct {
			Link []struct {
				Relation, URL string
			}
			Entry []struct {
				Resource struct {
					ResourceType, ID string
				}
				Search struct{ Mode string }
			}
		}
		if err := json.Unmarshal(r.body, &b); err != nil {
			tb.Fatal(err)
		}
		for _, en := range b.Entry {
			if en.Search.Mode != "include" {
				ids[en.Resource.ResourceType+"/"+en.Resource.ID] = true
			}
		}
		u = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				u = l.URL
			}
		}
	}
	return ids
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sameKeys(tb testing.TB, what string, got map[string][]byte, want map[string]bool) {
	tb.Helper()
	var g, w []string
	for k := range got {
		g = append(g, k)
	}
	for k := range want {
		w = append(w, k)
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		tb.Errorf("%s: exported %d resources, the search found %d\nexported only: %v\nsearch only: %v", what, len(g), len(w), minus(g, want), minus(w, toSet(g)))
	}
}

func toSet(ks []string) map[string]bool {
	m := map[string]bool{}
	for _, k := range ks {
		m[k] = true
	}
	return m
}

func minus(ks []string, set map[string]bool) []string {
	var out []string
	for _, k := range ks {
		if !set[k] {
			out = append(out, k)
		}
	}
	return out
}

// putGroup stores a Group straight into the store (ucp does not serve
// Group through its API yet; the export does not care how it got there).
func (e *env) putGroup(tb testing.TB, g map[string]any) {
	tb.Helper()
	now := time.Now().UTC()
	resource.SetMeta(g, resource.ID(g), 1, now)
	entries, patients, err := e.reg.Extract(g)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = e.st.Write(context.Background(), []store.Change{{Type: "Group", ID: resource.ID(g), VersionID: 1, LastUpdated: now,
		Method: "PUT", JSON: resource.Marshal(g), Entries: entries, Patients: patients}})
	if err != nil {
		tb.Fatal(err)
	}
}

// TestSystemExportMatchesSearch: a system export holds exactly what the
// same caller's searches find (revoked plans and plans of patients who
// withdrew consent are hidden from systems by the care-plan rules), each
// resource byte for byte as stored.
func TestSystemExportMatchesSearch(t *testing.T) {
	e := newEnv(t, 12)
	types := []string{"Patient", "CarePlan", "Consent", "Provenance"}
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			path, body := "/$export?_type="+strings.Join(types, ","), ""
			if method == "POST" {
				path = "/$export"
				body = `{"resourceType":"Parameters","parameter":[{"name":"_type","valueString":"` + strings.Join(types, ",") + `"},` +
					`{"name":"_outputFormat","valueString":"application/fhir+ndjson"}]}`
			}
			loc := e.kickoff(t, method, path, "system", body)
			m := e.complete(t, loc, "system")
			got := e.download(t, m, "system")
			want := map[string]bool{}
			for _, typ := range types {
				for k := range e.search(t, "/"+typ+"?_count=50", "system") {
					want[k] = true
				}
			}
			sameKeys(t, "system export", got, want)
			if len(m.Error) != 0 {
				t.Errorf("errors in the manifest: %+v", m.Error)
			}
			for key, line := range got {
				typ, id, _ := strings.Cut(key, "/")
				v, err := e.st.Read(context.Background(), typ, id)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(v.JSON, line) {
					t.Errorf("%s is not exported as stored", key)
				}
			}
		})
	}
	// The care-plan rules hid something from the system, and a clinician
	// (who may see revoked plans) would have seen more: the comparison
	// above is not vacuous.
	if sys, dr := e.search(t, "/CarePlan?_count=50", "system"), e.search(t, "/CarePlan?_count=50&subject:missing=false", "clinical"); len(dr) <= len(sys) {
		t.Fatalf("the synthetic data has no plans hidden from systems (%d vs %d): the test proves nothing", len(sys), len(dr))
	}
}

// TestPatientExport: Patient level exports each visible patient's
// compartment once, whatever types; the same as the compartment searches
// of the same caller (a clinician sees revoked plans, a system does not).
func TestPatientExport(t *testing.T) {
	e := newEnv(t, 8)
	types := "Patient,CarePlan,Consent,Observation,Goal,RelatedPerson,Condition"
	sizes := map[string]int{}
	for _, who := range []string{"system", "clinical"} {
		t.Run(who, func(t *testing.T) {
			loc := e.kickoff(t, "GET", "/Patient/$export?_type="+types, who, "")
			got := e.download(t, e.complete(t, loc, who), who)
			want := map[string]bool{}
			for p := range e.search(t, "/Patient?_count=50", who) {
				for k := range e.search(t, "/"+p+"/*?_type="+types+"&_count=50", who) {
					want[k] = true
				}
			}
			sameKeys(t, "patient export", got, want)
			sizes[who] = len(got)
		})
	}
	if sizes["clinical"] <= sizes["system"] {
		t.Errorf("the clinician's export (%d) is not larger than the system's (%d): the read rules were not exercised", sizes["clinical"], sizes["system"])
	}
}

// TestGroupExport: Group level exports the compartments of the Group's
// active members only; patient narrows it further.
func TestGroupExport(t *testing.T) {
	e := newEnv(t, 6)
	pats := keys(e.search(t, "/Patient?_count=50", "system"))
	e.putGroup(t, map[string]any{"resourceType": "Group", "id": "g1", "type": "person", "actual": true, "member": []any{
		map[string]any{"entity": map[string]any{"reference": pats[0]}},
		map[string]any{"entity": map[string]any{"reference": pats[1]}},
		map[string]any{"entity": map[string]any{"reference": pats[2]}, "inactive": true},
		map[string]any{"entity": map[string]any{"reference": pats[3]}, "period": map[string]any{"end": "2001-01-01"}},
	}})
	compartment := func(ps ...string) map[string]bool {
		want := map[string]bool{}
		for _, p := range ps {
			for k := range e.search(t, "/"+p+"/*?_type=Patient,CarePlan,Consent&_count=50", "system") {
				want[k] = true
			}
		}
		return want
	}
	loc := e.kickoff(t, "GET", "/Group/g1/$export?_type=Patient,CarePlan,Consent", "system", "")
	sameKeys(t, "group export", e.download(t, e.complete(t, loc, "system"), "system"), compartment(pats[0], pats[1]))

	body := `{"resourceType":"Parameters","parameter":[{"name":"_type","valueString":"Patient,CarePlan,Consent"},` +
		`{"name":"patient","valueReference":{"reference":"` + pats[1] + `"}},{"name":"patient","valueReference":{"reference":"` + pats[2] + `"}}]}`
	loc = e.kickoff(t, "POST", "/Group/g1/$export", "system", body)
	sameKeys(t, "group export narrowed by patient", e.download(t, e.complete(t, loc, "system"), "system"), compartment(pats[1]))

	loc = e.kickoff(t, "POST", "/Patient/$export", "system", body)
	sameKeys(t, "patient export narrowed by patient", e.download(t, e.complete(t, loc, "system"), "system"), compartment(pats[1], pats[2]))
}

// TestTypeFilterAndSince: _typeFilter queries are ORed and parsed by the
// search registry; _since keeps what changed after it; a later export with
// _since=transactionTime holds what changed since the first.
func TestTypeFilterAndSince(t *testing.T) {
	e := newEnv(t, 10)
	q := url.Values{"_type": {"CarePlan,Patient"}, "_typeFilter": {"CarePlan?status=active,CarePlan?status=active%2Cdraft", "Patient?gender=female"}}
	loc := e.kickoff(t, "GET", "/$export?"+q.Encode(), "system", "")
	m := e.complete(t, loc, "system")
	want := e.search(t, "/CarePlan?status=active,draft&_count=50", "system")
	for k := range e.search(t, "/Patient?gender=female&_count=50", "system") {
		want[k] = true
	}
	sameKeys(t, "typeFilter export", e.download(t, m, "system"), want)

	// A Practitioner written after the first export's transactionTime is
	// all a _since export finds.
	tt, err := time.Parse(time.RFC3339Nano, m.TransactionTime)
	if err != nil {
		t.Fatal(err)
	}
	for !time.Now().After(tt) {
		time.Sleep(time.Millisecond)
	}
	pr := map[string]any{"resourceType": "Practitioner", "id": "late", "name": []any{map[string]any{"family": "Late"}}}
	now := time.Now().UTC()
	resource.SetMeta(pr, "late", 1, now)
	entries, _, _ := e.reg.Extract(pr)
	if _, err := e.st.Write(context.Background(), []store.Change{{Type: "Practitioner", ID: "late", VersionID: 1, LastUpdated: now, Method: "PUT", JSON: resource.Marshal(pr), Entries: entries}}); err != nil {
		t.Fatal(err)
	}
	loc = e.kickoff(t, "GET", "/$export?_since="+url.QueryEscape(m.TransactionTime), "system", "")
	sameKeys(t, "_since export", e.download(t, e.complete(t, loc, "system"), "system"), map[string]bool{"Practitioner/late": true})
}

// TestKickoffRefusals: bad requests are 4xx OperationOutcomes, never a job.
func TestKickoffRefusals(t *testing.T) {
	e := newEnv(t, 0)
	e.putGroup(t, map[string]any{"resourceType": "Group", "id": "g1", "type": "person", "actual": true})
	strict := "Prefer: handling=strict"
	for _, tc := range []struct {
		name, method, path, token, body string
		headers                         []string
		status                          int
		says                            string
	}{
		{"no Prefer", "GET", "/$export", "system", "", nil, 400, "respond-async"},
		{"bad format", "GET", "/$export?_outputFormat=text/csv", "system", "", []string{async}, 400, "_outputFormat"},
		{"bad since", "GET", "/$export?_since=yesterday", "system", "", []string{async}, 400, "_since"},
		{"since without zone", "GET", "/$export?_since=2024-01-01T00:00:00", "system", "", []string{async}, 400, "_since"},
		{"strict unknown parameter", "GET", "/$export?includeAssociatedData=LatestProvenanceResources", "system", "", []string{async, strict}, 400, "includeAssociatedData"},
		{"strict _elements", "GET", "/$export?_elements=id", "system", "", []string{async, strict}, 400, "_elements"},
		{"strict unserved type", "GET", "/$export?_type=Encounter", "system", "", []string{async, strict}, 400, "Encounter"},
		{"only unserved types", "GET", "/$export?_type=Encounter", "system", "", []string{async}, 400, "_type"},
		{"filter without query", "GET", "/$export?_typeFilter=CarePlan", "system", "", []string{async}, 400, "_typeFilter"},
		{"filter unknown param", "GET", "/$export?_typeFilter=" + url.QueryEscape("CarePlan?colour=red"), "system", "", []string{async}, 400, "colour"},
		{"filter with _include", "GET", "/$export?_typeFilter=" + url.QueryEscape("CarePlan?_include=CarePlan:subject"), "system", "", []string{async}, 400, "_include"},
		{"strict filter of unexported type", "GET", "/$export?_type=Patient&_typeFilter=" + url.QueryEscape("CarePlan?status=active"), "system", "", []string{async, strict}, 400, "CarePlan"},
		{"patient in URL", "GET", "/Patient/$export?patient=Patient/1", "system", "", []string{async}, 400, "POST"},
		{"patient at system level", "POST", "/$export", "system", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/1"}}]}`, []string{async}, 400, "system"},
		{"bad patient", "POST", "/Patient/$export", "system", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Group/1"}}]}`, []string{async}, 400, "patient"},
		{"not Parameters", "POST", "/$export", "system", `{"resourceType":"Patient"}`, []string{async}, 400, "Parameters"},
		{"xml", "GET", "/$export", "system", "", []string{async, "Accept: application/fhir+xml"}, 406, ""},
		{"unknown group", "GET", "/Group/nope/$export", "system", "", []string{async}, 404, "Group"},
		{"anonymous", "GET", "/$export", "", "", []string{async}, 401, ""},
		{"clinician at system level", "GET", "/$export", "clinical", "", []string{async}, 403, ""},
		{"viewer at system level", "GET", "/$export", "view", "", []string{async}, 403, ""},
		{"type the caller may not search", "GET", "/Patient/$export?_type=Patient,Consent", "plans", "", []string{async}, 403, "Consent"},
		{"audit for a viewer", "GET", "/Patient/$export?_type=AuditEvent", "view", "", []string{async}, 403, "AuditEvent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.method, tc.path, tc.token, tc.body, tc.headers...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if !bytes.Contains(r.body, []byte(`"OperationOutcome"`)) || !bytes.Contains(r.body, []byte(tc.says)) {
				t.Errorf("body %s: want an OperationOutcome saying %q", r.body, tc.says)
			}
			if r.header.Get("Content-Location") != "" {
				t.Errorf("a refused kick-off has a Content-Location")
			}
		})
	}
}

// TestLenientWarnings: without handling=strict, what is not honoured is
// named in the manifest's error file, and the rest is exported.
func TestLenientWarnings(t *testing.T) {
	e := newEnv(t, 2)
	loc := e.kickoff(t, "GET", "/$export?_type=Patient,Encounter&_elements=id&_typeFilter="+url.QueryEscape("CarePlan?status=active"), "system", "")
	m := e.complete(t, loc, "system")
	if len(m.Output) != 1 || m.Output[0].Type != "Patient" {
		t.Errorf("output %+v, want the Patients only", m.Output)
	}
	if len(m.Error) != 1 || m.Error[0].Type != "OperationOutcome" || m.Error[0].Count != 1 {
		t.Fatalf("error %+v, want one OperationOutcome file", m.Error)
	}
	r := e.do(t, "GET", m.Error[0].URL, "system", "")
	for _, says := range []string{"Encounter", "_elements", "CarePlan?status=active"} {
		if !bytes.Contains(r.body, []byte(says)) {
			t.Errorf("the warnings do not mention %s: %s", says, r.body)
		}
	}
}

// TestJobPrivacy: only the principal who started a job sees it; to
// anyone else it does not exist. DELETE removes it and its files.
func TestJobPrivacy(t *testing.T) {
	e := newEnv(t, 2)
	loc := e.kickoff(t, "GET", "/$export?_type=Patient", "system", "")
	m := e.complete(t, loc, "system")
	file := m.Output[0].URL
	for _, tc := range []struct {
		name, method, u, token string
		status                 int
	}{
		{"other system polls", "GET", loc, "system2", 404},
		{"other system downloads", "GET", file, "system2", 404},
		{"other system deletes", "DELETE", loc, "system2", 404},
		{"anonymous polls", "GET", loc, "", 401},
		{"anonymous downloads", "GET", file, "", 401},
		{"unknown job", "GET", e.base + "/_bulk/00000000000000000000000000000000", "system", 404},
		{"unknown file", "GET", loc + "/Consent-1.ndjson", "system", 404},
		{"path tricks", "GET", loc + "/..%2Fjob.json", "system", 404},
		{"owner downloads", "GET", file, "system", 200},
		{"owner deletes", "DELETE", loc, "system", 202},
		{"deleted job", "GET", loc, "system", 404},
		{"deleted file", "GET", file, "system", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.method, tc.u, tc.token, "")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status >= 400 && !bytes.Contains(r.body, []byte("OperationOutcome")) {
				t.Errorf("body %s", r.body)
			}
		})
	}
	if entries, _ := filepath.Glob(filepath.Join(e.dir, "*")); len(entries) != 0 {
		t.Errorf("files left after DELETE: %v", entries)
	}
}

// TestFilesSplit: a type's resources are split across files of at most
// MaxFileResources.
func TestFilesSplit(t *testing.T) {
	e := newEnv(t, 12, func(c *export.Config) { c.MaxFileResources = 5 })
	loc := e.kickoff(t, "GET", "/$export?_type=Patient", "system", "")
	m := e.complete(t, loc, "system")
	got := e.download(t, m, "system")
	if len(got) != 12 || len(m.Output) != 3 {
		t.Fatalf("%d patients in %d files, want 12 in 3", len(got), len(m.Output))
	}
	for _, f := range m.Output {
		if f.Count > 5 {
			t.Errorf("%s holds %d", f.URL, f.Count)
		}
	}
}

// TestRestartAndExpiry: a finished job's manifest survives a restart; a
// job interrupted by one is failed (the IG's 500 OperationOutcome); jobs
// expire with their files.
func TestRestartAndExpiry(t *testing.T) {
	e := newEnv(t, 2)
	done := e.kickoff(t, "GET", "/$export?_type=Patient", "system", "")
	before := e.complete(t, done, "system")
	// A job that waits long enough to be interrupted: its Settle keeps it
	// from reading before the restart.
	e.mgr.Close()
	e.Server.Close()
	e.start(t, func(c *export.Config) { c.Settle = time.Hour })
	slow := e.kickoff(t, "GET", "/$export?_type=Patient", "system", "")
	if r := e.do(t, "GET", slow, "system", ""); r.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202", r.status)
	}
	e.mgr.Close() // shutdown: the running job is failed
	e.Server.Close()

	clock := time.Now()
	e.start(t, func(c *export.Config) { c.Now = func() time.Time { return clock } })
	after := e.complete(t, done, "system")
	if after.TransactionTime != before.TransactionTime || len(after.Output) != len(before.Output) {
		t.Errorf("manifest changed across the restart: %+v, was %+v", after, before)
	}
	e.download(t, after, "system")
	r := e.wait(t, slow, "system")
	if r.status != http.StatusInternalServerError || !bytes.Contains(r.body, []byte("OperationOutcome")) || !bytes.Contains(r.body, []byte("interrupted")) {
		t.Errorf("interrupted job: %d %s", r.status, r.body)
	}

	// A day later both are gone, files and all.
	clock = clock.Add(export.DefaultExpiry + time.Minute)
	for _, loc := range []string{done, slow} {
		if r := e.do(t, "GET", loc, "system", ""); r.status != http.StatusNotFound {
			t.Errorf("expired job: %d", r.status)
		}
	}
	e.mgr.Close()
	e.Server.Close()
	e.start(t, func(c *export.Config) { c.Now = func() time.Time { return clock } })
	if entries, _ := filepath.Glob(filepath.Join(e.dir, "*")); len(entries) != 0 {
		t.Errorf("expired jobs left on disk: %v", entries)
	}
}

// TestCapabilityStatement lists $export at system level and on Patient
// and Group.
func TestCapabilityStatement(t *testing.T) {
	e := newEnv(t, 0)
	r := e.do(t, "GET", "/metadata", "", "")
	var cs struct {
		Rest []struct {
			Operation []struct{ Name, Definition string }
			Resource  []struct {
				Type      string
				Operation []struct{ Name string }
			}
		}
	}
	if err := json.Unmarshal(r.body, &cs); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, op := range cs.Rest[0].Operation {
		if op.Name == "export" {
			found["system"] = true
		}
	}
	for _, res := range cs.Rest[0].Resource {
		for _, op := range res.Operation {
			if op.Name == "export" {
				found[res.Type] = true
			}
		}
	}
	for _, level := range []string{"system", "Patient", "Group"} {
		if !found[level] {
			t.Errorf("$export not listed at %s", level)
		}
	}
}

// TestTransactionTimeBoundary: the export holds what was updated at or
// before transactionTime and after _since, to the microsecond, so that
// exports chained by _since=transactionTime neither miss nor repeat.
func TestTransactionTimeBoundary(t *testing.T) {
	tt := time.Now().UTC().Truncate(time.Second) // a whole second: the awkward case
	e := newEnv(t, 0, func(c *export.Config) { c.Now = func() time.Time { return tt } })
	put := func(id string, lu time.Time) {
		pr := map[string]any{"resourceType": "Practitioner", "id": id}
		resource.SetMeta(pr, id, 1, lu)
		entries, _, _ := e.reg.Extract(pr)
		if _, err := e.st.Write(context.Background(), []store.Change{{Type: "Practitioner", ID: id, VersionID: 1, LastUpdated: lu, Method: "PUT", JSON: resource.Marshal(pr), Entries: entries}}); err != nil {
			t.Fatal(err)
		}
	}
	put("before", tt.Add(-time.Microsecond))
	put("at", tt)
	put("after", tt.Add(time.Microsecond))
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"up to transactionTime", "", []string{"Practitioner/at", "Practitioner/before"}},
		{"since", "&_since=" + url.QueryEscape(resource.FormatInstant(tt.Add(-time.Microsecond))), []string{"Practitioner/at"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := e.complete(t, e.kickoff(t, "GET", "/$export?_type=Practitioner"+tc.query, "system", ""), "system")
			if m.TransactionTime != resource.FormatInstant(tt) {
				t.Errorf("transactionTime %s, want %s", m.TransactionTime, resource.FormatInstant(tt))
			}
			if got := keys(e.download(t, m, "system")); !slices.Equal(got, tc.want) {
				t.Errorf("exported %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCancelRunning: DELETE stops a job under way and removes it.
func TestCancelRunning(t *testing.T) {
	e := newEnv(t, 0, func(c *export.Config) { c.Settle = time.Hour }) // it waits: still running when cancelled
	loc := e.kickoff(t, "GET", "/$export", "system", "")
	if r := e.do(t, "GET", loc, "system", ""); r.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202", r.status)
	}
	if r := e.do(t, "DELETE", loc, "system", ""); r.status != http.StatusAccepted {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", loc, "system", ""); r.status != http.StatusNotFound {
		t.Errorf("after DELETE: %d", r.status)
	}
	// Close waits for the worker, which removes the job's directory.
	e.mgr.Close()
	if entries, _ := filepath.Glob(filepath.Join(e.dir, "*")); len(entries) != 0 {
		t.Errorf("files left after DELETE: %v", entries)
	}
}

// endpoints serves the export routes through the REST adapter, as cmd/ucp
// wires them.
func endpoints(routes []export.Route) []rest.Endpoint {
	var out []rest.Endpoint
	for _, rt := range routes {
		out = append(out, rest.Endpoint{Method: rt.Method, Path: rt.Path,
			Handler: func(w http.ResponseWriter, r *rest.EndpointRequest) error {
				return rt.Handler(w, &export.Request{Request: r.Request, Params: r.Params, Base: r.Base, Authorize: r.Authorize})
			}})
	}
	return out
}
