package nrl

import (
	"strings"
	"testing"
)

// FuzzPlanOfMaster reads any masterIdentifier NRL hands back without
// panicking; a plan id it finds names one of this service's plans (its
// base, no path of its own) and rebuilds into a master of that plan.
func FuzzPlanOfMaster(f *testing.F) {
	const base = "https://ucp.example.nhs.uk/fhir"
	for _, s := range []string{MasterFor(base, "p1", 3), base + "/CarePlan/a/b/_history/1", base + "/CarePlan//_history/", "", "urn:uuid:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, master string) {
		plan := PlanOfMaster(base, master)
		if plan == "" {
			return
		}
		if strings.Contains(plan, "/") || !strings.HasPrefix(master, planOfMaster(base, plan)) {
			t.Errorf("PlanOfMaster(%q) = %q, not a plan of %s", master, plan, base)
		}
	})
}
