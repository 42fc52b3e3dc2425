package service_test

import (
	"context"
	"net/url"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/outcome"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/store"
	"ucp/store/sqlite"
)

// hideIDs is a read filter hiding the resources whose ids it holds, and
// an authorizer recording what it is asked.
type hideIDs struct {
	hidden map[string]bool
	asked  []service.Access
}

func (h *hideIDs) AllowRead(_ context.Context, v *store.Version, _ service.Purpose, _ *service.Call) error {
	if h.hidden[v.Type+"/"+v.ID] {
		return outcome.Errorf(outcome.Forbidden, "hidden")
	}
	return nil
}

func (h *hideIDs) Authorize(_ context.Context, a service.Access) error {
	h.asked = append(h.asked, a)
	return nil
}

func ids(vs []store.Version) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Type+"/"+v.ID)
	}
	sort.Strings(out)
	return out
}

// TestReadsFilterAndCount: the read interactions of the service leave out
// what the read filter hides, count only what the caller may see, and
// authorise what they were asked.
func TestReadsFilterAndCount(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := search.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	h := &hideIDs{hidden: map[string]bool{"Patient/p2": true}}
	svc, err := service.New(service.Config{Store: st, Registry: reg, Authorizer: h, ReadInterceptor: h})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(typ, id string, res map[string]any) {
		t.Helper()
		res["resourceType"], res["id"] = typ, id
		if _, err := svc.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: typ, ID: id, CreateOnMissing: true, Resource: res}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"p1", "p2", "p3"} {
		put("Patient", id, map[string]any{})
		put("Observation", "o-"+id, map[string]any{"status": "final", "code": map[string]any{"text": "x"},
			"subject": map[string]any{"reference": "Patient/" + id}})
	}
	if _, err := svc.Write(ctx, &service.Write{Interaction: "delete", Method: "DELETE", Type: "Patient", ID: "p3"}); err != nil {
		t.Fatal(err)
	}
	total := func(n *int) int {
		if n == nil {
			return -1
		}
		return *n
	}

	h.asked = nil
	res, err := svc.Search(ctx, service.SearchRequest{Type: "Observation", Params: url.Values{"_include": {"Observation:subject"}, "_total": {"accurate"}}, Query: "q"})
	if err != nil {
		t.Fatal(err)
	}
	type page struct {
		Matches, Included []string
		Total             int
	}
	want := page{Matches: []string{"Observation/o-p1", "Observation/o-p2", "Observation/o-p3"}, Included: []string{"Patient/p1"}, Total: 3}
	if diff := cmp.Diff(want, page{ids(res.Matches), ids(res.Included), total(res.Total)}); diff != "" {
		t.Errorf("search with _include (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(service.Access{Interaction: "search-type", Type: "Observation", Query: "q"}, h.asked[0]); diff != "" {
		t.Errorf("search authorised as (-want +got):\n%s", diff)
	}

	// A total over several pages is re-counted without the hidden.
	res, err = svc.Search(ctx, service.SearchRequest{Type: "Patient", Params: url.Values{"_count": {"1"}, "_total": {"accurate"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := total(res.Total); got != 1 || res.Next == "" {
		t.Errorf("paged search: total %d, next %q; want 1 and a next page", got, res.Next)
	}

	hist, err := svc.History(ctx, service.HistoryRequest{Type: "Patient"})
	if err != nil {
		t.Fatal(err)
	}
	// p1, p3 and p3's deletion: p2 is hidden, a deletion never is.
	if diff := cmp.Diff(page{Matches: []string{"Patient/p1", "Patient/p3", "Patient/p3"}, Total: 3}, page{Matches: ids(hist.Versions), Total: total(hist.Total)}); diff != "" {
		t.Errorf("type history (-want +got):\n%s", diff)
	}

	if _, err := svc.VRead(ctx, "Patient", "p2", 1); outcome.KindOf(err) != outcome.Forbidden {
		t.Errorf("vread of a hidden version: %v, want the filter's refusal", err)
	}
	v, err := svc.VRead(ctx, "Patient", "p3", 2)
	if outcome.KindOf(err) != outcome.Gone || v == nil || v.VersionID != 2 {
		t.Errorf("vread of a deletion: %v, %v; want Gone with the version", v, err)
	}
	if _, err := svc.History(ctx, service.HistoryRequest{Type: "Patient", ID: "nobody"}); outcome.KindOf(err) != outcome.NotFound {
		t.Errorf("history of an unknown instance: %v, want NotFound", err)
	}
	if _, err := svc.Search(ctx, service.SearchRequest{Type: "Observation", Patient: "p2"}); outcome.KindOf(err) != outcome.Forbidden {
		t.Errorf("search in a hidden patient's compartment: %v, want the filter's refusal", err)
	}
}
