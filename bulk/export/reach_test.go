package export_test

import (
	"net/url"
	"strings"
	"testing"
)

// A _typeFilter's _has reaches only the plans the exporting client may see,
// as the same search does: a system export does not list the patients of
// plans that are not shared (not approved, or no longer current).
func TestTypeFilterReachesOnlySharedPlans(t *testing.T) {
	e := newEnv(t, 10)
	const filter = "Patient?_has:CarePlan:subject:status=draft,revoked,completed"
	if len(e.search(t, "/"+filter, "clinical")) == 0 {
		t.Fatal("the synthetic patients have no draft, revoked or completed plan")
	}
	want := e.search(t, "/"+filter, "system")
	if len(want) != 0 {
		t.Errorf("a system search finds the patients of unshared plans: %v", keys(want))
	}
	// In _typeFilter, a comma inside a query is escaped.
	q := url.Values{"_type": {"Patient"}, "_typeFilter": {strings.ReplaceAll(filter, ",", "%2C")}}
	loc := e.kickoff(t, "GET", "/$export?"+q.Encode(), "system", "")
	sameKeys(t, "export of the patients of unshared plans", e.download(t, e.complete(t, loc, "system"), "system"), want)
}
