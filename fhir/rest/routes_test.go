package rest_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/outcome"
	"ucp/fhir/rest"
	"ucp/internal/resttest"
)

// refuseAll records what each request asked to do and refuses it, so that
// a route's interaction shows without anything being read or written.
type refuseAll struct {
	mu   sync.Mutex
	seen []rest.Access
}

func (a *refuseAll) Authorize(_ context.Context, acc rest.Access) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, acc)
	return outcome.Errorf(outcome.Forbidden, "refused")
}

func (a *refuseAll) first() *rest.Access {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		return nil
	}
	acc := a.seen[0]
	acc.Query = ""
	a.seen = nil
	return &acc
}

// TestRouting pins which interaction each method and path reach, and the
// answer for those that reach none: 405 when another method serves the
// path, 404 otherwise.
func TestRouting(t *testing.T) {
	az := &refuseAll{}
	ts := mustServer(t, func(c *rest.Config) {
		c.Authorizer = az
		c.Operations = []rest.Operation{{Name: "echo", System: true, Types: []string{"*"}, Instance: []string{"*"}, Handler: echo}}
		c.Endpoints = []rest.Endpoint{{Method: "GET", Path: "_thing/{a}", Handler: func(w http.ResponseWriter, r *rest.EndpointRequest) error {
			return r.Authorize(rest.Access{Interaction: "operation", Operation: "thing", ID: r.Params["a"]})
		}}}
	})
	acc := func(interaction, typ, id string) *rest.Access {
		return &rest.Access{Interaction: interaction, Type: typ, ID: id}
	}
	op := func(typ, id string) *rest.Access {
		return &rest.Access{Interaction: "operation", Operation: "echo", Type: typ, ID: id}
	}
	const batch = `{"resourceType":"Bundle","type":"batch"}`
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               *rest.Access // nil: no interaction reached
	}{
		// Each interaction (refused, so 403 once the route is taken).
		{"GET", "/metadata", "", 200, nil},
		{"GET", "", "", 403, acc("search-system", "", "")},
		{"GET", "/", "", 403, acc("search-system", "", "")},
		{"POST", "/_search", "", 403, acc("search-system", "", "")},
		{"POST", "/", batch, 403, acc("batch", "", "")},
		{"POST", "", batch, 403, acc("batch", "", "")},
		{"GET", "/_history", "", 403, acc("history-system", "", "")},
		{"GET", "/Patient", "", 403, acc("search-type", "Patient", "")},
		{"GET", "/Patient/", "", 403, acc("search-type", "Patient", "")},
		{"POST", "/Patient/_search", "", 403, acc("search-type", "Patient", "")},
		{"POST", "/Patient", patientJSON, 403, acc("create", "Patient", "")},
		{"PUT", "/Patient?identifier=a|b", patientJSON, 403, acc("update", "Patient", "")},
		// A condition is parsed before anything else: the 400 shows the route.
		{"PATCH", "/Patient?birthdate=notadate", `[]`, 400, nil},
		{"DELETE", "/Patient?identifier=a|b", "", 403, acc("delete", "Patient", "")},
		{"GET", "/Patient/_history", "", 403, acc("history-type", "Patient", "")},
		{"GET", "/Patient/p1", "", 403, acc("read", "Patient", "p1")},
		{"GET", "/Patient/p1/", "", 403, acc("read", "Patient", "p1")},
		{"GET", "/Patient/_historyx", "", 404, nil},
		{"HEAD", "/Patient/p1", "", 403, acc("read", "Patient", "p1")},
		{"PUT", "/Patient/p1", `{"resourceType":"Patient","id":"p1"}`, 403, acc("update", "Patient", "p1")},
		{"PATCH", "/Patient/p1", `[]`, 403, acc("patch", "Patient", "p1")},
		{"DELETE", "/Patient/p1", "", 403, acc("delete", "Patient", "p1")},
		{"GET", "/Patient/p1/_history", "", 403, acc("history-instance", "Patient", "p1")},
		{"GET", "/Patient/p1/_history/2", "", 403, acc("vread", "Patient", "p1")},
		{"GET", "/Patient/p1/Observation", "", 403, acc("search-type", "Observation", "")},
		{"POST", "/Patient/p1/Observation/_search", "", 403, acc("search-type", "Observation", "")},
		{"GET", "/$echo", "", 403, op("", "")},
		{"POST", "/$echo", "", 403, op("", "")},
		{"GET", "/Patient/$echo", "", 403, op("Patient", "")},
		{"POST", "/Patient/p1/$echo", "", 403, op("Patient", "p1")},
		{"GET", "/_thing/x", "", 403, &rest.Access{Interaction: "operation", Operation: "thing", ID: "x"}},
		// What gin's tree misses but FHIR's path rules take: extra slashes
		// at the ends, an escaped "$".
		{"GET", "//Patient", "", 403, acc("search-type", "Patient", "")},
		{"GET", "/Patient//", "", 403, acc("search-type", "Patient", "")},
		{"DELETE", "//Patient/p1", "", 403, acc("delete", "Patient", "p1")},
		{"GET", "/Patient/%24echo", "", 403, op("Patient", "")},
		{"GET", "//_thing/x", "", 403, &rest.Access{Interaction: "operation", Operation: "thing", ID: "x"}},
		// Another method serves the path.
		{"DELETE", "/metadata", "", 405, nil},
		{"HEAD", "/metadata", "", 405, nil},
		{"POST", "/metadata", "", 405, nil},
		{"GET", "/_search", "", 405, nil},
		{"PUT", "/_history", "", 405, nil},
		{"DELETE", "/", "", 405, nil},
		{"OPTIONS", "/Patient", "", 405, nil},
		{"GET", "/Patient/_search", "", 405, nil},
		{"DELETE", "/Patient/_history", "", 405, nil},
		{"POST", "/Patient/p1", "", 405, nil},
		{"POST", "/Spaceship/1", "", 405, nil},
		{"PUT", "/$echo", "", 405, nil},
		{"DELETE", "/Patient/p1/_history/1", "", 405, nil},
		{"POST", "/Patient/p1/Observation", "", 405, nil},
		{"GET", "/Patient/p1/Observation/_search", "", 405, nil},
		{"POST", "/_thing/x", "", 405, nil},
		{"PUT", "/$", "", 405, nil},
		// No route at all.
		{"GET", "/Spaceship", "", 404, nil},
		{"PATCH", "/Spaceship/1", `[]`, 404, nil},
		{"GET", "/spaceship", "", 404, nil},
		{"GET", "/_nothing", "", 404, nil},
		{"GET", "/metadata/x", "", 404, nil},
		{"POST", "/Patient/_x", "", 404, nil},
		{"GET", "/Patient/p1/_x", "", 404, nil},
		{"GET", "/Patient/$echo/x", "", 404, nil},
		{"GET", "/Patient/p1/_history/2/x", "", 404, nil},
		{"GET", "/Patient/p1/Observation/x", "", 404, nil},
		{"GET", "/_thing", "", 404, nil},
		{"GET", "/_thing/x/y", "", 404, nil},
		{"GET", "/_thing//", "", 404, nil},
		{"GET", ts.URL + "/fhirx", "", 404, nil},
		{"GET", ts.URL + "/", "", 404, nil},
		// A route whose id is refused before anything else.
		{"GET", "/Patient/a_b", "", 400, nil},
		{"GET", "/Patient/a%2Fb", "", 400, nil},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			p := tc.path
			if p == "" {
				p = ts.base
			}
			r := ts.do(t, tc.method, p, tc.body)
			if tc.method == "HEAD" {
				if r.Status != tc.status {
					t.Errorf("status %d, want %d", r.Status, tc.status)
				}
			} else {
				r.want(t, tc.status)
			}
			if diff := cmp.Diff(tc.want, az.first()); diff != "" {
				t.Errorf("interaction mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRoutingAtRoot serves the API at the root of its host (Prefix "/").
func TestRoutingAtRoot(t *testing.T) {
	az := &refuseAll{}
	ts := mustServer(t, func(c *rest.Config) { c.Authorizer = az; c.Prefix = "/" })
	for _, tc := range []struct {
		method, path string
		status       int
		want         *rest.Access
	}{
		{"GET", "/metadata", 200, nil},
		{"GET", "/", 403, &rest.Access{Interaction: "search-system"}},
		{"GET", "", 403, &rest.Access{Interaction: "search-system"}},
		{"GET", "/Patient/p1", 403, &rest.Access{Interaction: "read", Type: "Patient", ID: "p1"}},
		{"DELETE", "/metadata", 405, nil},
		{"GET", "/fhir/metadata", 404, nil},
		{"GET", "/Spaceship", 404, nil},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			ts.do(t, tc.method, ts.URL+tc.path).want(t, tc.status)
			if diff := cmp.Diff(tc.want, az.first()); diff != "" {
				t.Errorf("interaction mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEndpointPaths: an endpoint path the router cannot hold is refused
// by New, not by a panic.
func TestEndpointPaths(t *testing.T) {
	h := func(http.ResponseWriter, *rest.EndpointRequest) error { return nil }
	for _, tc := range []struct {
		name  string
		paths []string
		ok    bool
	}{
		{"one placeholder name per position", []string{"_x/{a}", "_x/{a}/y"}, true},
		{"two names at one position", []string{"_x/{a}", "_x/{b}/y"}, false},
		{"the same route twice", []string{"_x/{a}", "_x/{a}"}, false},
		{"a colon in a literal", []string{"_x/a:b"}, false},
		{"no leading underscore", []string{"x/{a}"}, false},
		{"an empty segment", []string{"_x//y"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rest.Config{Store: resttest.OpenStore(t), Registry: resttest.NewRegistry(t), Types: []string{"Patient"}}
			for _, p := range tc.paths {
				cfg.Endpoints = append(cfg.Endpoints, rest.Endpoint{Method: "GET", Path: p, Handler: h})
			}
			_, err := rest.New(cfg)
			if (err == nil) != tc.ok {
				t.Errorf("New: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
