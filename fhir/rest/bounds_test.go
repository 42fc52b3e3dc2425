package rest_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ucp/fhir/outcome"
)

// TestIncludeBound: _include and _revinclude add at most MaxIncluded
// resources to a page, and the bundle says when the bound cut.
func TestIncludeBound(t *testing.T) {
	const bound = 3
	ts := mustServer(t, func(c *restConfig) { c.MaxIncluded = bound })
	pid := ts.create(t, patientJSON)
	var goals []string
	for i := range bound + 2 {
		goals = append(goals, `{"reference":"Goal/`+ts.create(t, `{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"g`+fmt.Sprint(i)+`"},"subject":{"reference":"Patient/`+pid+`"}}`)+`"}`)
	}
	plan := ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+pid+`"},"goal":[`+strings.Join(goals, ",")+`]}`)
	few := ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+pid+`"},"goal":[`+strings.Join(goals[:bound], ",")+`]}`)
	for _, tc := range []struct {
		name, query string
		included    int
		cut         bool
	}{
		{"_include over the bound", "/CarePlan?_id=" + plan + "&_include=CarePlan:goal", bound, true},
		{"_include at the bound", "/CarePlan?_id=" + few + "&_include=CarePlan:goal", bound, false},
		{"_revinclude over the bound", "/Patient?_id=" + pid + "&_revinclude=Goal:subject", bound, true},
		{"iterate everything", "/Patient?_id=" + pid + "&_include:iterate=*&_revinclude:iterate=*", bound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := ts.do(t, "GET", tc.query).want(t, http.StatusOK).JSON(t)
			included, outcome := 0, ""
			for _, e := range b["entry"].([]any) {
				switch path(e, "search.mode") {
				case "include":
					included++
				case "outcome":
					outcome = fmt.Sprint(path(e, "resource"))
				}
			}
			if included != tc.included {
				t.Errorf("%d included, want %d", included, tc.included)
			}
			if cut := strings.Contains(outcome, "too-costly") && strings.Contains(outcome, fmt.Sprint(bound)); cut != tc.cut {
				t.Errorf("outcome %q, want a warning of the bound: %t", outcome, tc.cut)
			}
		})
	}
	doc := str(path(ts.do(t, "GET", "/metadata").want(t, 200).JSON(t), "rest.0.documentation"))
	if !strings.Contains(doc, fmt.Sprintf("at most %d resources through _include", bound)) {
		t.Errorf("CapabilityStatement does not state the include bound: %q", doc)
	}
}

// TestSearchTimeout: a search still running at its deadline is stopped and
// answered 503 too-costly, never a 500. The deadline is made so short that
// every search meets it.
func TestSearchTimeout(t *testing.T) {
	ts := mustServer(t, func(c *restConfig) { c.SearchTimeout = time.Nanosecond })
	pid := ts.create(t, patientJSON)
	for _, q := range []string{"/Patient?gender=female", "/Patient?_id=" + pid + "&_revinclude:iterate=*", "/Patient/" + pid + "/$everything", "/Patient/" + pid + "/CarePlan"} {
		r := ts.do(t, "GET", q).want(t, http.StatusServiceUnavailable)
		if code := path(r.JSON(t), "issue.0.code"); code != "too-costly" {
			t.Errorf("%s: issue code %v, want too-costly", q, code)
		}
	}
	ts.do(t, "GET", "/Patient/"+pid).want(t, http.StatusOK) // a read is not a search
	doc := str(path(ts.do(t, "GET", "/metadata").want(t, 200).JSON(t), "rest.0.documentation"))
	if !strings.Contains(doc, "longer than 1ns") {
		t.Errorf("CapabilityStatement does not state the time bound: %q", doc)
	}
}

// TestClientGone: a search whose client has gone away is answered (to
// nobody) 499, not 500, and is not logged as a failure of the server.
func TestClientGone(t *testing.T) {
	var logs bytes.Buffer
	ts := mustServer(t, func(c *restConfig) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	ts.create(t, patientJSON)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", "/fhir/Patient?gender=female", nil)
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	if rec.Code != outcome.StatusClientClosed {
		t.Errorf("status = %d, want %d; body %s", rec.Code, outcome.StatusClientClosed, rec.Body)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a client going away is logged as an error:\n%s", logs.String())
	}
}
