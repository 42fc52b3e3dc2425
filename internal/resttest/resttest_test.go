package resttest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/internal/resttest"
)

func TestPath(t *testing.T) {
	tree := resttest.Decode(t, []byte(`{"entry":[{"resource":{"id":"a","n":1.50}},{"resource":{"id":"b"}}]}`))
	for _, tc := range []struct {
		path string
		want any
	}{
		{"entry.0.resource.id", "a"},
		{"entry.1.resource.id", "b"},
		{"entry.0.resource.n", json.Number("1.50")},
		{"entry.2.resource.id", nil},
		{"entry.x", nil},
		{"entry.0.resource.id.more", nil},
		{"missing", nil},
	} {
		if diff := cmp.Diff(tc.want, resttest.Path(tree, tc.path)); diff != "" {
			t.Errorf("Path(%q) mismatch (-want +got):\n%s", tc.path, diff)
		}
	}
}

// TestDo checks what a request carries and what comes back.
func TestDo(t *testing.T) {
	type seen struct {
		Method, Path, ContentType, Prefer, Body string
	}
	// The handler runs on the server's goroutine: what it saw comes back
	// through a channel.
	saw := make(chan seen, 1)
	s := resttest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [64]byte
		n, _ := r.Body.Read(b[:])
		saw <- seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), strings.Join(r.Header.Values("Prefer"), ", "), string(b[:n])}
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"resourceType":"OperationOutcome","count":2}`))
	}))
	r := s.Do(t, "POST", "/Patient", `{"resourceType":"Patient"}`, "Prefer: return=minimal", "Prefer: respond-async").Want(t, http.StatusNotFound)
	want := seen{"POST", "/fhir/Patient", "application/fhir+json", "return=minimal, respond-async", `{"resourceType":"Patient"}`}
	if diff := cmp.Diff(want, <-saw); diff != "" {
		t.Errorf("request mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(resttest.Num(2), r.JSON(t)["count"]); diff != "" {
		t.Errorf("number mismatch (-want +got):\n%s", diff)
	}
	resttest.Do(t, "PATCH", s.URL+"/other", "[]", "Content-Type: application/json-patch+json")
	if diff := cmp.Diff(seen{Method: "PATCH", Path: "/other", ContentType: "application/json-patch+json", Body: "[]"}, <-saw); diff != "" {
		t.Errorf("request mismatch (-want +got):\n%s", diff)
	}
}

func TestPatient(t *testing.T) {
	p := resttest.Decode(t, []byte(resttest.Patient("9434765919")))
	got := []any{resttest.Path(p, "resourceType"), resttest.Path(p, "identifier.0.system"), resttest.Path(p, "identifier.0.value")}
	want := []any{"Patient", "https://fhir.nhs.uk/Id/nhs-number", "9434765919"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Patient mismatch (-want +got):\n%s", diff)
	}
}
