package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"ucp/auth"
)

// TestServeEvaluateMeasure: on the server as wired, the report role and
// admins evaluate the shipped Measures, the report role reads no patient
// resource, clinical and urgent-care roles cannot evaluate, and every
// evaluation is audited under the caller.
func TestServeEvaluateMeasure(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ucp.db")
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + db, Demo: true, DemoPatients: 20, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
	srv, err := startServer(context.Background(), onTestStore(t, cfg), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[auth.Role]string{}
	for _, r := range []auth.Role{auth.RoleReport, auth.RoleAdmin, auth.RoleClinical, auth.RoleView} {
		tokens[r] = token(t, srv, r)
	}
	measure := "/Measure/ucp-uptake/$evaluate-measure?periodStart=2025-11-01&periodEnd=2026-10-31"
	for _, tc := range []struct {
		role auth.Role
		path string
		want int
	}{
		{auth.RoleReport, measure, 200},
		{auth.RoleAdmin, measure, 200},
		{auth.RoleClinical, measure, 403},
		{auth.RoleView, measure, 403},
		{auth.RoleReport, "/Patient", 403},
		{auth.RoleReport, "/CarePlan?status=active", 403},
		{auth.RoleReport, "/Measure/ucp-uptake", 403},
	} {
		code, _, b := call(t, "GET", srv.base+tc.path, tokens[tc.role], nil)
		if code != tc.want {
			t.Errorf("GET %s as %s: %d, want %d: %s", tc.path, tc.role, code, tc.want, b)
			continue
		}
		if code != 200 {
			continue
		}
		var mr struct {
			ResourceType string
			Group        []struct {
				ID         string
				Population []struct{ Count *int }
			}
		}
		if err := json.Unmarshal(b, &mr); err != nil || mr.ResourceType != "MeasureReport" || len(mr.Group) != 3 {
			t.Errorf("GET %s as %s: %v %s", tc.path, tc.role, err, b)
		}
		if strings.Contains(string(b), "Patient/") {
			t.Errorf("GET %s as %s names a patient: %s", tc.path, tc.role, b)
		}
	}
	if code, _, _ := call(t, "GET", srv.base+measure, "", nil); code != 401 {
		t.Errorf("anonymous evaluation: %d, want 401", code)
	}

	// The audit journal is drained into the store; a restart drains it all.
	issuer := srv.dev.URL()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv = serveTest(t, cfg)
	admin := token(t, srv, auth.RoleAdmin)
	q := "/AuditEvent?agent:identifier=" + url.QueryEscape(issuer+"|dev-user") + "&_count=100"
	code, _, b := call(t, "GET", srv.base+q, admin, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", q, code, b)
	}
	if n := strings.Count(string(b), "evaluate-measure"); n < 4 {
		t.Errorf("the audit names $evaluate-measure %d times, want the four evaluations (two allowed, two refused): %s", n, b)
	}
}
