package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/bulk"
	"ucp/careplan"
	"ucp/fhir/resource"
	"ucp/fhir/rest"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/internal/resttest"
	"ucp/profiles"
	"ucp/report"
	"ucp/synth"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

var opts = synth.Options{Patients: 150, Seed: 21}

type server struct {
	hs      *resttest.Server
	orgs    []string // Organization ids of the practices
	reports *report.Reports
	loader  *service.Service
}

// TestReports loads the generated data once (the slow part) and runs the
// report's tests against it.
func TestReports(t *testing.T) {
	s, err := load(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("MeasuresMatchGenerated", func(t *testing.T) { measuresMatchGenerated(t, s) })
	t.Run("MeasureRoles", func(t *testing.T) { measureRoles(t, s) })
	t.Run("EvaluateMeasureBadInput", func(t *testing.T) { evaluateMeasureBadInput(t, s) })
	// Last: they change the register.
	t.Run("MeasuresFollowWrites", func(t *testing.T) { measuresFollowWrites(t, s) })
	t.Run("EvaluateDuringReread", func(t *testing.T) { evaluateDuringReread(t, s) })
}

// heldReader is the service with its searches held while hold is open:
// a whole read of the register (searches) stops there, while reads of
// changes (histories) go on.
type heldReader struct {
	report.Reader
	hold    chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (h *heldReader) Search(ctx context.Context, r service.SearchRequest) (*service.SearchResult, error) {
	if h.hold != nil {
		h.once.Do(func() { close(h.entered) })
		select {
		case <-h.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return h.Reader.Search(ctx, r)
}

// evaluateDuringReread: while the register is read whole again, an
// evaluation does not wait for it and answers from the kept facts and the
// changes since; once the read is in place the answer is the same.
func evaluateDuringReread(t *testing.T, s *server) {
	ctx := auth.NewContext(context.Background(), &report.ReadAs)
	held := &heldReader{Reader: s.loader}
	reports, err := report.New(report.Config{Service: held})
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	evaluate := func(r *report.Reports) string {
		t.Helper()
		vals, _ := url.ParseQuery("periodStart=2024-11-01&periodEnd=2026-10-31")
		_, body, err := r.Operations()[0].Handler(ctx, &service.OperationRequest{Name: "evaluate-measure", Method: "GET", Type: "Measure", ID: "ucp-uptake", Query: vals})
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		b, _ := json.Marshal(body)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		delete(out, "date")
		b, _ = json.Marshal(out)
		return string(b)
	}

	held.hold, held.entered = make(chan struct{}), make(chan struct{})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reread := make(chan error, 1)
	go func() { reread <- reports.Reread(rctx) }()
	<-held.entered

	// A practice changes its ODS code while the whole read is held.
	org, err := s.loader.Read(ctx, "Organization", s.orgs[1])
	if err != nil {
		t.Fatal(err)
	}
	o, err := resource.Parse(org.JSON)
	if err != nil {
		t.Fatal(err)
	}
	o["identifier"] = []any{map[string]any{"system": profiles.SystemODSCode, "value": "Z88888"}}
	if _, err := s.loader.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "Organization", ID: s.orgs[1], Resource: o}); err != nil {
		t.Fatal(err)
	}
	fresh, err := report.New(report.Config{Service: s.loader})
	if err != nil {
		t.Fatal(err)
	}
	want := evaluate(fresh)
	if !strings.Contains(want, "Z88888") {
		t.Fatalf("the new ODS code is not a stratum of a first read: %s", want)
	}
	// The whole read is still held: this answer comes from the kept facts
	// and the changes.
	if diff := cmp.Diff(want, evaluate(reports)); diff != "" {
		t.Errorf("evaluation during a reread, against a first read (-want +got):\n%s", diff)
	}
	select {
	case err := <-reread:
		t.Fatalf("the reread ended while held: %v", err)
	default:
	}
	close(held.hold)
	if err := <-reread; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, evaluate(reports)); diff != "" {
		t.Errorf("evaluation after the reread, against a first read (-want +got):\n%s", diff)
	}
}

// load stores opts' patients through the care-plan rules, as the demo
// loader does, and serves the API with the real authorizer; a test-only
// wrapper turns an X-Test-Role header into the principal.
func load(t testing.TB, opts synth.Options) (*server, error) {
	st := resttest.OpenStore(t)
	reg, err := search.NewRegistry()
	if err != nil {
		return nil, err
	}
	for _, sp := range profiles.SearchParameters() {
		if err := reg.Register(sp); err != nil {
			return nil, err
		}
	}
	// Approvals the server records are dated at the synthetic "today", after
	// every period the tests ask about, so that the periods count the
	// generated history alone.
	plans, err := careplan.New(careplan.Config{Store: st, Registry: reg, Validator: careplan.NewValidator(st, reg),
		Now: func() time.Time { return synth.DefaultNow }})
	if err != nil {
		return nil, err
	}
	loader, err := service.New(service.Config{Store: st, Registry: reg, Types: reg.Types(), WriteInterceptor: plans, ReadInterceptor: plans,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	ctx := auth.NewContext(context.Background(), &auth.Principal{Role: auth.RoleClinical, Subject: "loader", Name: "test loader"})
	// The single NDJSON stream, as ucp import loads it: ids and references
	// kept as written, so each approval names the plan version it approved
	// (a transaction Bundle's conditional references cannot).
	var nd bytes.Buffer
	if err := synth.Generate(opts, synth.NDJSONStream(&nd)); err != nil {
		return nil, err
	}
	var rejected []bulk.Rejection
	im := &bulk.Importer{Store: st, Registry: reg, Rules: plans, Reject: func(r bulk.Rejection) { rejected = append(rejected, r) }}
	if _, err := im.ImportNDJSON(ctx, &nd, "synth"); err != nil {
		return nil, err
	}
	if len(rejected) > 0 {
		return nil, fmt.Errorf("%d generated resources refused, the first: %+v", len(rejected), rejected[0])
	}
	reports, err := report.New(report.Config{Service: loader})
	if err != nil {
		return nil, err
	}
	if err := reports.Warm(context.Background()); err != nil {
		return nil, err
	}
	pol := auth.DefaultPolicy()
	srv, err := rest.New(rest.Config{
		Store: st, Registry: reg, Types: reg.Types(),
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authorizer:       auth.OperationPolicy{Next: pol},
		WriteInterceptor: plans, ReadInterceptor: plans, Operations: reports.Operations(),
	})
	if err != nil {
		return nil, err
	}
	scopes, err := auth.ParseScopes("user/*.cruds")
	if err != nil {
		return nil, err
	}
	hs := resttest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if role := r.Header.Get("X-Test-Role"); role != "" {
			p := &auth.Principal{Role: auth.Role(role), Subject: "test-" + role, UserID: "test-" + role, Name: "Test " + role,
				Scopes: scopes}
			r = r.WithContext(auth.NewContext(r.Context(), p))
		}
		srv.ServeHTTP(w, r)
	}))
	s := &server{hs: hs, reports: reports, loader: loader}
	vs, err := loader.Find(auth.NewContext(context.Background(), &report.ReadAs), "Organization", "identifier="+profiles.SystemODSCode+"|", 1000)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		s.orgs = append(s.orgs, v.ID)
	}
	return s, nil
}

func (s *server) do(t *testing.T, role, method, path string) (int, map[string]any) {
	t.Helper()
	var header []string
	if role != "" {
		header = append(header, "X-Test-Role: "+role)
	}
	resp := s.hs.Do(t, method, "/"+path, "", header...)
	var m map[string]any
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		t.Fatalf("%s %s: %d %s", method, path, resp.Status, resp.Body)
	}
	return resp.Status, m
}

// flatten turns a MeasureReport into the keys synth.Values uses; strata
// with a count of 0 are left out, as synth does not list them.
func flatten(t *testing.T, measure string, mr map[string]any) synth.Values {
	t.Helper()
	out := synth.Values{}
	count := func(p map[string]any) string {
		if n, ok := p["count"].(float64); ok {
			return fmt.Sprint(int(n))
		}
		for _, x := range p["extension"].([]any) {
			if e := x.(map[string]any); e["url"] == report.ExtensionSuppressed {
				return e["valueString"].(string)
			}
		}
		t.Fatalf("population with neither a count nor a suppression: %v", p)
		return ""
	}
	code := func(p map[string]any) string {
		return p["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
	}
	for _, g := range mr["group"].([]any) {
		gm := g.(map[string]any)
		gid := gm["id"].(string)
		for _, p := range gm["population"].([]any) {
			pm := p.(map[string]any)
			out[measure+"/"+gid+"/"+code(pm)] = count(pm)
		}
		if sc, ok := gm["measureScore"].(map[string]any); ok {
			out[measure+"/"+gid+"/score"] = fmt.Sprintf("%.1f", sc["value"].(float64))
		}
		for _, s := range gm["stratifier"].([]any) {
			sm := s.(map[string]any)
			name := sm["code"].([]any)[0].(map[string]any)["text"].(string)
			for _, x := range sm["stratum"].([]any) {
				xm := x.(map[string]any)
				value := xm["value"].(map[string]any)["text"].(string)
				for _, p := range xm["population"].([]any) {
					pm := p.(map[string]any)
					if c := count(pm); c != "0" {
						out[measure+"/"+gid+"/"+code(pm)+"/"+name+"="+value] = c
					}
				}
			}
		}
	}
	return out
}

// Every measure, evaluated on generated data, gives exactly the values the
// generator computes from its own story of each patient, suppression and
// rounding included, for the whole register and for one practice.
func measuresMatchGenerated(t *testing.T, s *server) {
	for _, tc := range []struct{ start, end string }{
		{"2025-11-01", "2026-10-31"},
		{"2026-01-01", "2026-03-31"},
		{"2024-11-01", "2026-10-31"},
	} {
		// The whole register, a practice by id and the same practice by
		// its ODS code.
		for _, org := range []string{"", s.orgs[0], "ods"} {
			from, _ := time.Parse("2006-01-02", tc.start)
			to, _ := time.Parse("2006-01-02", tc.end)
			ods, subject := "", ""
			switch org {
			case "":
			case "ods":
				ods = odsOf(t, s, s.orgs[0])
				subject = url.QueryEscape("Organization?identifier=" + profiles.SystemODSCode + "|" + ods)
			default:
				ods = odsOf(t, s, org)
				subject = "Organization/" + org
			}
			want, err := synth.Expected(opts, from, to, ods)
			if err != nil {
				t.Fatal(err)
			}
			got := synth.Values{}
			for _, m := range []string{"ucp-uptake", "ucp-quality", "ucp-outcomes", "ucp-patient-started"} {
				q := "Measure/" + m + "/$evaluate-measure?periodStart=" + tc.start + "&periodEnd=" + tc.end
				if subject != "" {
					q += "&subject=" + subject
				}
				status, mr := s.do(t, "report", "GET", q)
				if status != 200 {
					t.Fatalf("GET %s: %d %v", q, status, mr)
				}
				if mr["resourceType"] != "MeasureReport" || mr["type"] != "summary" {
					t.Fatalf("GET %s: %v", q, mr)
				}
				for k, v := range flatten(t, m, mr) {
					got[k] = v
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s to %s, subject %q: measures (-want +got):\n%s", tc.start, tc.end, org, diff)
			}
			if org == "" && (want["ucp-outcomes/preferred-place/denominator"] == "0" || want["ucp-uptake/in-force/initial-population"] == "0" ||
				want["ucp-patient-started/submissions/initial-population"] == "0") {
				t.Errorf("%s to %s: the generated data has no deaths or plans in force: %v", tc.start, tc.end, want)
			}
		}
	}
}

func odsOf(t *testing.T, s *server, org string) string {
	t.Helper()
	status, o := s.do(t, "admin", "GET", "Organization/"+org)
	if status != 200 {
		t.Fatalf("GET Organization/%s: %d", org, status)
	}
	for _, id := range o["identifier"].([]any) {
		if im := id.(map[string]any); im["system"] == profiles.SystemODSCode {
			return im["value"].(string)
		}
	}
	t.Fatalf("Organization/%s has no ODS code", org)
	return ""
}

// The report role and admins evaluate measures and get counts; the report
// role reads no patient resource; clinical and urgent-care roles cannot
// evaluate; an anonymous caller must sign in.
func measureRoles(t *testing.T, s *server) {
	q := "Measure/ucp-outcomes/$evaluate-measure?periodStart=2025-11-01&periodEnd=2026-10-31"
	for _, tc := range []struct {
		role, method, path string
		want               int
	}{
		{"report", "GET", q, 200},
		{"admin", "GET", q, 200},
		{"clinical", "GET", q, 403},
		{"view", "GET", q, 403},
		{"patient", "GET", q, 403},
		{"", "GET", q, 401},
		{"report", "GET", "Patient", 403},
		{"report", "GET", "CarePlan?status=active", 403},
		{"report", "GET", "Observation", 403},
	} {
		status, body := s.do(t, tc.role, tc.method, tc.path)
		if status != tc.want {
			t.Errorf("%s %s as %q: %d, want %d: %v", tc.method, tc.path, tc.role, status, tc.want, body)
		}
		if status == 200 {
			b, _ := json.Marshal(body)
			if strings.Contains(string(b), "Patient/") || strings.Contains(string(b), synth.SystemSynthetic) {
				t.Errorf("%s as %s: the MeasureReport names a patient: %s", tc.path, tc.role, b)
			}
		}
	}
}

// Bad parameters are a 400 OperationOutcome; an unknown measure is a 404.
func evaluateMeasureBadInput(t *testing.T, s *server) {
	base := "Measure/ucp-uptake/$evaluate-measure?"
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"periodEnd=2026-10-31", 400},
		{"periodStart=2026-01-01", 400},
		{"periodStart=2026-1-1&periodEnd=2026-10-31", 400},
		{"periodStart=2026-10-31&periodEnd=2026-01-01", 400},
		{"periodStart=2000-01-01&periodEnd=2026-10-31", 400},
		{"periodStart=2026-01-01&periodEnd=2026-10-31&reportType=subject-list", 400},
		{"periodStart=2026-01-01&periodEnd=2026-10-31&reportType=individual", 400},
		{"periodStart=2026-01-01&periodEnd=2026-10-31&subject=Patient/x", 400},
		{"periodStart=2026-01-01&periodEnd=2026-10-31&subject=Organization/", 400},
		{"periodStart=2026-01-01&periodEnd=2026-10-31&measure=x", 400},
		{"periodStart=2026-01-01&periodEnd=2026-10-31&subject=" + url.QueryEscape("Organization?identifier="+profiles.SystemODSCode+"|F8"), 400},
		{"periodStart=2026-01-01&periodEnd=2026-10-31&subject=" + url.QueryEscape("Organization?identifier="+profiles.SystemODSCode+"|F84012&x"), 400},
		{"periodStart=2026-01-01&periodEnd=2026-10-31&subject=" + url.QueryEscape("Organization?identifier=other|F84012"), 400},
		{"periodStart=2026-01-01&periodEnd=2026-10-31&_format=json", 200},
	} {
		status, body := s.do(t, "report", "GET", base+tc.query)
		wantType := "OperationOutcome"
		if tc.want == 200 {
			wantType = "MeasureReport"
		}
		if status != tc.want || body["resourceType"] != wantType {
			t.Errorf("%s: %d %v, want %d with a %s", tc.query, status, body, tc.want, wantType)
		}
	}
	if status, body := s.do(t, "report", "GET", "Measure/nope/$evaluate-measure?periodStart=2026-01-01&periodEnd=2026-10-31"); status != 404 {
		t.Errorf("unknown measure: %d %v, want 404", status, body)
	}
}

func TestSuppress(t *testing.T) {
	for _, tc := range []struct {
		n, want int
		ok      bool
	}{
		{0, 0, true}, {1, 0, false}, {4, 0, false}, {5, 5, true}, {7, 5, true}, {8, 10, true}, {12, 10, true}, {13, 15, true}, {1002, 1000, true},
	} {
		got, ok := report.Suppress(tc.n)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Suppress(%d) = %d, %v; want %d, %v", tc.n, got, ok, tc.want, tc.ok)
		}
	}
}

// An evaluation after writes counts what they wrote: the facts kept between
// evaluations follow updates and deletions, and give what a first read of
// the register gives.
func measuresFollowWrites(t *testing.T, s *server) {
	ctx := auth.NewContext(context.Background(), &report.ReadAs)
	q := "periodStart=2024-11-01&periodEnd=2026-10-31"
	evaluate := func(r *report.Reports, m string) map[string]any {
		t.Helper()
		vals, _ := url.ParseQuery(q)
		_, body, err := r.Operations()[0].Handler(ctx, &service.OperationRequest{Name: "evaluate-measure", Method: "GET", Type: "Measure", ID: m, Query: vals})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		delete(out, "date")
		return out
	}
	measures := []string{"ucp-uptake", "ucp-quality", "ucp-outcomes", "ucp-patient-started"}
	before := map[string]map[string]any{}
	for _, m := range measures {
		before[m] = evaluate(s.reports, m)
	}

	// A practice changes its ODS code; every Condition of one kind becomes
	// another; a Provenance of an approval is deleted.
	org, err := s.loader.Read(ctx, "Organization", s.orgs[0])
	if err != nil {
		t.Fatal(err)
	}
	o, err := resource.Parse(org.JSON)
	if err != nil {
		t.Fatal(err)
	}
	o["identifier"] = []any{map[string]any{"system": profiles.SystemODSCode, "value": "Z99999"}}
	if _, err := s.loader.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "Organization", ID: s.orgs[0], Resource: o}); err != nil {
		t.Fatal(err)
	}
	conds, err := s.loader.Find(ctx, "Condition", "code="+profiles.SystemSNOMED+"|363358000", 1000)
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, c := range conds {
		tree, err := resource.Parse(c.JSON)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(c.JSON), `"code":"363358000"`) {
			continue
		}
		tree["code"] = map[string]any{"coding": []any{map[string]any{"system": profiles.SystemSNOMED, "code": "84114007"}}}
		if _, err := s.loader.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "Condition", ID: c.ID, Resource: tree}); err != nil {
			t.Fatal(err)
		}
		changed++
	}
	if changed == 0 {
		t.Fatal("no Condition coded 363358000 to change")
	}
	provs, err := s.loader.Find(ctx, "Provenance", "target:CarePlan.status=active", 1)
	if err != nil || len(provs) == 0 {
		t.Fatalf("a Provenance to delete: %v %v", provs, err)
	}
	if _, err := s.loader.Write(ctx, &service.Write{Interaction: "delete", Method: "DELETE", Type: "Provenance", ID: provs[0].ID}); err != nil {
		t.Fatal(err)
	}

	fresh, err := report.New(report.Config{Service: s.loader})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range measures {
		got, want := evaluate(s.reports, m), evaluate(fresh, m)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s after writes, kept facts against a first read (-want +got):\n%s", m, diff)
		}
		if cmp.Equal(before[m], got) {
			t.Errorf("%s: the same report before and after the writes", m)
		}
	}
	if b, _ := json.Marshal(evaluate(s.reports, "ucp-uptake")); !strings.Contains(string(b), "Z99999") {
		t.Errorf("the new ODS code is not a stratum: %s", b)
	}
}
