package rest_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"ucp/fhir/outcome"
	"ucp/fhir/rest"
)

// recordingAuth remembers the accesses it was asked about and refuses
// operations named "forbidden".
type recordingAuth struct {
	mu   sync.Mutex
	seen []rest.Access
}

func (a *recordingAuth) Authorize(_ context.Context, acc rest.Access) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, acc)
	if acc.Operation == "forbidden" {
		return outcome.Errorf(outcome.Forbidden, "no")
	}
	return nil
}

// echo answers with what it was given.
func echo(_ context.Context, r *rest.OperationRequest) (int, any, error) {
	if r.String("fail") == "yes" {
		return 0, nil, outcome.Errorf(outcome.Unprocessable, "asked to fail")
	}
	out := map[string]any{"resourceType": "Parameters", "parameter": []any{
		map[string]any{"name": "level", "valueString": r.Type + "|" + r.ID},
		map[string]any{"name": "x", "valueString": r.String("x")},
		map[string]any{"name": "base", "valueString": r.Base},
	}}
	if r.Resource != nil {
		out["parameter"] = append(out["parameter"].([]any), map[string]any{"name": "resource", "resource": r.Resource})
	}
	return http.StatusOK, out, nil
}

func TestOperations(t *testing.T) {
	a := &recordingAuth{}
	ts := mustServer(t, func(c *rest.Config) {
		c.Authorizer = a
		c.Operations = []rest.Operation{
			{Name: "echo", Definition: "http://example.org/OperationDefinition/echo", System: true, Types: []string{"Patient"}, Instance: []string{"*"}, Handler: echo},
			{Name: "$change", AffectsState: true, Types: []string{"Patient"}, Handler: echo},
			{Name: "forbidden", System: true, Handler: echo},
			{Name: "empty", System: true, Handler: func(context.Context, *rest.OperationRequest) (int, any, error) { return 0, nil, nil }},
		}
	})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		level, x                 string
	}{
		{"system GET", "GET", "/$echo?x=1", "", 200, "|", "1"},
		{"type POST Parameters", "POST", "/Patient/$echo", `{"resourceType":"Parameters","parameter":[{"name":"x","valueInteger":42}]}`, 200, "Patient|", "42"},
		{"instance POST resource", "POST", "/Observation/o1/$echo?x=q", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, 200, "Observation|o1", "q"},
		{"type not allowed", "GET", "/Observation/$echo", "", 404, "", ""},
		{"unknown operation", "GET", "/Patient/$nope", "", 404, "", ""},
		{"unknown at system", "POST", "/$nope", "{}", 404, "", ""},
		{"affects state needs POST", "GET", "/Patient/$change", "", 405, "", ""},
		{"affects state POST", "POST", "/Patient/$change", "", 200, "Patient|", ""},
		{"handler error", "GET", "/$echo?fail=yes", "", 422, "", ""},
		{"refused", "GET", "/$forbidden", "", 403, "", ""},
		{"bad body", "POST", "/$echo", "{", 400, "", ""},
		{"no content", "POST", "/$empty", "", 204, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, tc.method, tc.path, tc.body).want(t, tc.status)
			if tc.status != 200 {
				return
			}
			m := r.JSON(t)
			if got := str(path(m, "parameter.0.valueString")); got != tc.level {
				t.Errorf("level = %q, want %q", got, tc.level)
			}
			if got := str(path(m, "parameter.1.valueString")); got != tc.x {
				t.Errorf("x = %q, want %q", got, tc.x)
			}
			if got := str(path(m, "parameter.2.valueString")); got != ts.base {
				t.Errorf("base = %q, want %q", got, ts.base)
			}
			if strings.Contains(tc.path, "o1") && str(path(m, "parameter.3.resource.resourceType")) != "Observation" {
				t.Errorf("resource body not passed: %s", r.Body)
			}
		})
	}
	// Ordinary routes still work next to operations.
	ts.do(t, "GET", "/Patient/$echo/x").want(t, 404)
	id := ts.create(t, `{"resourceType":"Patient"}`)
	ts.do(t, "GET", "/Patient/"+id).want(t, 200)
	ts.do(t, "GET", "/Patient/"+id+"/_history").want(t, 200)

	a.mu.Lock()
	found := false
	for _, acc := range a.seen {
		if acc.Interaction == "operation" && acc.Operation == "echo" && acc.Type == "Observation" && acc.ID == "o1" {
			found = true
		}
	}
	a.mu.Unlock()
	if !found {
		t.Errorf("Authorizer was not asked about the instance operation: %+v", a.seen)
	}

	cs := ts.do(t, "GET", "/metadata").want(t, 200).JSON(t)
	sys, _ := path(cs, "rest.0.operation").([]any)
	names := map[string]bool{}
	for _, o := range sys {
		names[str(path(o, "name"))] = true
	}
	if !names["echo"] || names["change"] {
		t.Errorf("system operations = %v", names)
	}
	var patientOps []string
	for _, r := range path(cs, "rest.0.resource").([]any) {
		if str(path(r, "type")) == "Patient" {
			for _, o := range path(r, "operation").([]any) {
				patientOps = append(patientOps, str(path(o, "name")))
			}
		}
	}
	// everything (Patient/{id}/$everything) and reindex are built in.
	if strings.Join(patientOps, ",") != "change,echo,everything,reindex" {
		t.Errorf("Patient operations = %v", patientOps)
	}
}
