package rest_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"ucp/fhir/outcome"
	"ucp/fhir/rest"
)

func TestEndpoints(t *testing.T) {
	az := &recordingAuth{}
	ts := mustServer(t, func(c *rest.Config) {
		c.Authorizer = az
		c.Endpoints = []rest.Endpoint{
			{Method: "GET", Path: "_thing/{a}/{b}", Handler: func(w http.ResponseWriter, r *rest.EndpointRequest) error {
				op := "thing"
				if r.Params["b"] == "Secret" {
					op = "forbidden"
				}
				if err := r.Authorize(rest.Access{Interaction: "operation", Operation: op, Type: r.Params["b"]}); err != nil {
					return err
				}
				if r.Params["a"] == "missing" {
					return outcome.Errorf(outcome.NotFound, "no such thing %s", r.Params["a"])
				}
				w.Header().Set("Content-Type", "application/fhir+ndjson")
				w.WriteHeader(http.StatusOK)
				fmt.Fprintf(w, "%s|%s|%s\n", r.Params["a"], r.Params["b"], r.Base)
				return nil
			}},
			{Method: "DELETE", Path: "_thing/{a}", Handler: func(w http.ResponseWriter, r *rest.EndpointRequest) error {
				w.WriteHeader(http.StatusAccepted)
				return nil
			}},
		}
	})
	for _, tc := range []struct {
		name, method, path string
		headers            []string
		status             int
		body               string
	}{
		{"served", "GET", "/_thing/x/Patient", nil, 200, "x|Patient|" + ts.base + "\n"},
		// Endpoints negotiate for themselves: an NDJSON Accept is not 406.
		{"own negotiation", "GET", "/_thing/x/Patient", []string{"Accept: application/fhir+ndjson"}, 200, "x|Patient|" + ts.base + "\n"},
		{"escaped segment", "GET", "/_thing/a%20b/Patient", nil, 200, "a b|Patient|" + ts.base + "\n"},
		{"error kind", "GET", "/_thing/missing/Patient", nil, 404, ""},
		{"refused", "GET", "/_thing/x/Secret", nil, 403, ""},
		{"other method", "DELETE", "/_thing/x", nil, 202, ""},
		{"wrong method", "POST", "/_thing/x", nil, 405, ""},
		{"no such endpoint", "GET", "/_thing", nil, 404, ""},
		{"FHIR routes untouched", "GET", "/Patient/nope", nil, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, tc.method, tc.path, append([]string{""}, tc.headers...)...).want(t, tc.status)
			if tc.body != "" && string(r.Body) != tc.body {
				t.Errorf("body %q, want %q", r.Body, tc.body)
			}
		})
	}
	// What an endpoint authorizes reaches the Authorizer (and the audit).
	az.mu.Lock()
	defer az.mu.Unlock()
	if len(az.seen) == 0 || az.seen[0].Operation != "thing" || az.seen[0].Type != "Patient" {
		t.Errorf("authorizer saw %+v", az.seen)
	}
}

func TestRegisterEndpointRefusesShadowing(t *testing.T) {
	ts := mustServer(t)
	h := func(http.ResponseWriter, *rest.EndpointRequest) error { return nil }
	for _, p := range []string{"Patient/{id}", "{type}", "", "_a//b"} {
		if err := ts.srv.RegisterEndpoint(rest.Endpoint{Method: "GET", Path: p, Handler: h}); err == nil {
			t.Errorf("RegisterEndpoint(%q) succeeded, want an error", p)
		}
	}
}

// TestOperationHeaders checks that an operation sees the request's headers
// and that the headers it sets are sent on success only.
func TestOperationHeaders(t *testing.T) {
	ts := mustServer(t, func(c *rest.Config) {
		c.Operations = append(c.Operations, rest.Operation{Name: "async", System: true, Handler: func(_ context.Context, r *rest.OperationRequest) (int, any, error) {
			r.ResponseHeader.Set("Content-Location", r.Base+"/_status/1")
			if r.Header.Get("Prefer") != "respond-async" {
				return 0, nil, outcome.Errorf(outcome.Invalid, "want Prefer: respond-async")
			}
			return http.StatusAccepted, nil, nil
		}})
	})
	for _, tc := range []struct {
		name     string
		headers  []string
		status   int
		location string
	}{
		{"async", []string{"Prefer: respond-async"}, 202, ts.base + "/_status/1"},
		{"refused", nil, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "GET", "/$async", append([]string{""}, tc.headers...)...).want(t, tc.status)
			if got := r.Header.Get("Content-Location"); got != tc.location {
				t.Errorf("Content-Location %q, want %q", got, tc.location)
			}
		})
	}
}
