package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/report"
	"ucp/synth"
)

var dashboardOpts = synth.Options{Patients: 150, Seed: 21}

// dashboardEnv is the app with $evaluate-measure registered on its service
// and generated patients loaded, as ucp serve wires reporting.
func dashboardEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	reports, err := report.New(report.Config{Service: e.loader})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range reports.Operations() {
		if err := e.svc.RegisterOperation(op); err != nil {
			t.Fatal(err)
		}
	}
	ctx := auth.NewContext(context.Background(), &auth.Principal{Role: auth.RoleClinical, Subject: "loader", Name: "test loader"})
	err = synth.Generate(dashboardOpts, synth.Bundles(func(_, _ int, b []byte) error {
		tree, err := resource.Parse(b)
		if err != nil {
			return err
		}
		results, err := e.loader.Bundle(ctx, tree)
		if err != nil {
			return err
		}
		for _, r := range results {
			if r.Err != nil {
				return r.Err
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// client is an HTTP client signed in as role.
func (e *env) client(role auth.Role) *http.Client {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	resp, err := c.Get(e.signIn(role, "", "Someone", "/app/accessibility"))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return c
}

func get(t *testing.T, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// TestDashboard runs the dashboard's tests on one set of generated data
// (loading it is the slow part).
func TestDashboard(t *testing.T) {
	e := dashboardEnv(t)
	t.Run("NumbersAreTheMeasures", func(t *testing.T) { dashboardNumbers(t, e) })
	t.Run("Roles", func(t *testing.T) { dashboardRoles(t, e) })
	t.Run("BadInput", func(t *testing.T) { dashboardBadInput(t, e) })
	t.Run("Page", func(t *testing.T) { dashboardPage(t, e) })
}

const dashboardQuery = "start=2025-11&end=2026-10"

// Each chart's CSV holds exactly what synth.Expected computes for the
// generated data, suppressed cells as "<5": uptake month by month,
// completeness over the period, outcomes by practice.
func dashboardNumbers(t *testing.T, e *env) {
	c := e.client(auth.RoleReport)
	csvOf := func(name string) [][]string {
		t.Helper()
		status, body, h := get(t, c, e.url+"/app/dashboard/"+name+".csv?"+dashboardQuery)
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
			t.Fatalf("%s.csv: %d %s\n%.500s", name, status, h.Get("Content-Type"), body)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows[1:] // the header
	}
	or0 := func(v synth.Values, k string) string {
		if s, ok := v[k]; ok {
			return s
		}
		return "0"
	}

	var want [][]string
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 12 {
		from := start.AddDate(0, i, 0)
		v, err := synth.Expected(dashboardOpts, from, from.AddDate(0, 1, -1), "")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, []string{from.Format("Jan 2006"), v["ucp-uptake/in-force/initial-population"],
			v["ucp-uptake/approved/initial-population"], v["ucp-uptake/ended/initial-population"]})
	}
	if diff := cmp.Diff(want, csvOf("uptake")); diff != "" {
		t.Errorf("uptake by month (-want +got):\n%s", diff)
	}

	want = nil
	var submitted bool
	for i := range 12 {
		from := start.AddDate(0, i, 0)
		v, err := synth.Expected(dashboardOpts, from, from.AddDate(0, 1, -1), "")
		if err != nil {
			t.Fatal(err)
		}
		n := or0(v, "ucp-patient-started/submissions/initial-population")
		submitted = submitted || n != "0"
		want = append(want, []string{from.Format("Jan 2006"), n, or0(v, "ucp-patient-started/days-to-approval/numerator")})
	}
	if diff := cmp.Diff(want, csvOf("patient-started")); diff != "" {
		t.Errorf("patient-started plans by month (-want +got):\n%s", diff)
	}
	if !submitted {
		t.Errorf("the generated data should have submissions in the period: %v", want)
	}

	year, err := synth.Expected(dashboardOpts, start, start.AddDate(1, 0, -1), "")
	if err != nil {
		t.Fatal(err)
	}
	want = nil
	for n := 0; n <= 8; n++ {
		want = append(want, []string{fmt.Sprintf("%d of 8", n), or0(year, fmt.Sprintf("ucp-quality/completeness/initial-population/sections=%d", n))})
	}
	if diff := cmp.Diff(want, csvOf("completeness")); diff != "" {
		t.Errorf("completeness distribution (-want +got):\n%s", diff)
	}

	want = nil
	suppressed := false
	for _, ods := range practices(year, "ucp-outcomes/preferred-place/") {
		den := or0(year, "ucp-outcomes/preferred-place/denominator/ods="+ods)
		num := or0(year, "ucp-outcomes/preferred-place/numerator/ods="+ods)
		want = append(want, []string{ods, den, num})
		suppressed = suppressed || den == "<5" || num == "<5"
	}
	if diff := cmp.Diff(want, csvOf("preferred-place")); diff != "" {
		t.Errorf("preferred place by practice (-want +got):\n%s", diff)
	}
	if len(want) == 0 || !suppressed {
		t.Errorf("the generated data should give practices with deaths, some suppressed: %v", want)
	}
}

// practices are the ODS codes of the strata under prefix, sorted.
func practices(v synth.Values, prefix string) []string {
	seen := map[string]bool{}
	var out []string
	for k := range v {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if i := strings.Index(k, "/ods="); i >= 0 && !seen[k[i+5:]] {
			seen[k[i+5:]] = true
			out = append(out, k[i+5:])
		}
	}
	slices.Sort(out)
	return out
}

// The report role and admins see the dashboard; clinical and urgent care
// roles are told in words that it is not theirs, and see no number.
func dashboardRoles(t *testing.T, e *env) {
	for _, tc := range []struct {
		role auth.Role
		want int
	}{
		{auth.RoleReport, 200}, {auth.RoleAdmin, 200}, {auth.RoleClinical, 403}, {auth.RoleView, 403},
	} {
		status, body, _ := get(t, e.client(tc.role), e.url+"/app/dashboard?"+dashboardQuery)
		if status != tc.want {
			t.Errorf("%s: %d, want %d", tc.role, status, tc.want)
		}
		if tc.want == 403 && (!strings.Contains(body, "only the reporting role and administrators can see them") || strings.Contains(body, "<svg")) {
			t.Errorf("%s: the refusal is not in words, or shows a chart:\n%.2000s", tc.role, body)
		}
		if tc.want == 200 && strings.Count(body, "<svg") != 4 {
			t.Errorf("%s: %d charts, want 4", tc.role, strings.Count(body, "<svg"))
		}
		status, _, _ = get(t, e.client(tc.role), e.url+"/app/dashboard/uptake.csv?"+dashboardQuery)
		if status != tc.want {
			t.Errorf("%s: CSV %d, want %d", tc.role, status, tc.want)
		}
	}
}

// A bad month or practice is a 400 page that says what is wrong, and no
// chart; an unknown chart's CSV is a 404.
func dashboardBadInput(t *testing.T, e *env) {
	c := e.client(auth.RoleReport)
	for _, tc := range []struct{ query, says string }{
		{"start=2026-13&end=2026-10", "Enter the first month"},
		{"start=2026&end=2026-10", "Enter the first month"},
		{"start=2026-01&end=10/2026", "Enter the last month"},
		{"start=2026-10&end=2026-01", "must not be before the first month"},
		{"start=2020-01&end=2026-10", "24 months or fewer"},
		{"start=2026-01&end=2026-10&ods=..%2Fx", "Choose a practice from the list"},
		{"start=2026-01&end=2026-10&ods=ZZZ999", "Choose a practice from the list"},
	} {
		status, body, _ := get(t, c, e.url+"/app/dashboard?"+tc.query)
		if status != 400 || !strings.Contains(body, tc.says) || strings.Contains(body, "<svg") {
			t.Errorf("%s: %d, want 400 saying %q and no chart:\n%.1500s", tc.query, status, tc.says, body)
		}
		if status, _, _ := get(t, c, e.url+"/app/dashboard/uptake.csv?"+tc.query); status != 400 {
			t.Errorf("%s: CSV %d, want 400", tc.query, status)
		}
	}
	if status, _, _ := get(t, c, e.url+"/app/dashboard/nope.csv?"+dashboardQuery); status != 404 {
		t.Errorf("unknown chart: %d, want 404", status)
	}
}

// The page in a browser: the form works without script, one practice can
// be chosen, suppressed cells read "<5", and axe finds no serious or
// critical violation.
func dashboardPage(t *testing.T, e *env) {
	ctx := e.open(auth.RoleReport, "", "Commissioner Kaur", "/app/dashboard?"+dashboardQuery)
	if got := text(t, ctx, "#period"); !strings.Contains(got, "November 2025 to October 2026") {
		t.Errorf("period = %q", got)
	}
	if got := text(t, ctx, "#preferred-place-heading + p + figure + div"); !strings.Contains(got, "<5") {
		t.Errorf("the preferred-place table shows no suppressed cell: %q", got)
	}
	axe(t, ctx)
	shoot(t, ctx, "dashboard")
	year, err := synth.Expected(dashboardOpts, time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), "")
	if err != nil {
		t.Fatal(err)
	}
	// The median days to approval is the measure's score, or not published
	// (suppressed) when fewer than 5 submissions were approved.
	wantDays := "not published: fewer than 5"
	if s, ok := year["ucp-patient-started/days-to-approval/score"]; ok {
		wantDays = ": " + s + " days"
	}
	if got := text(t, ctx, "#days-to-approval"); !strings.Contains(got, wantDays) {
		t.Errorf("median days to approval = %q, want it to say %q", got, wantDays)
	}
	// Choose a practice with the form, as a person would.
	ods := practices(year, "ucp-uptake/approved/")[0]
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("ods").value = `+jsString(ods))); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#show")
	if got := text(t, ctx, "#period"); !strings.Contains(got, "practice "+ods) {
		t.Errorf("after choosing %s: period = %q", ods, got)
	}
	axe(t, ctx)
}
