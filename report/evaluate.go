package report

import (
	"slices"
	"strconv"
	"time"
)

// The recommended sections of a plan (the quality measure), besides the
// review in the last 12 months.
const (
	sectionCPR          = "cpr"
	sectionCeiling      = "ceiling"
	sectionPlaceOfCare  = "place-of-care"
	sectionPlaceOfDeath = "place-of-death"
	sectionContacts     = "contacts"
	sectionADRTLPA      = "adrt-lpa"
	sectionMedicines    = "medicines"
)

var sections = []string{sectionCPR, sectionCeiling, sectionPlaceOfCare, sectionPlaceOfDeath, sectionContacts, sectionADRTLPA, sectionMedicines}

// Stratifiers, in the order of a stratum's key.
var stratifiers = []string{"ods", "age-band", "condition-group"}

// stratifierSections stratifies the completeness group by the number of
// recommended sections a plan has ("0" to "8"): the distribution of
// completeness.
const stratifierSections = "sections"

// A group of a Measure: its populations, in order (the first is the
// initial population or denominator, the second the numerator).
type groupDef struct {
	id          string
	populations []string
	// median says the score is the median completeness, not a
	// proportion.
	median bool
	// extra are the group's stratifiers besides the common ones.
	extra []string
	// ofNumerator says the median is of the numerator's members (days to
	// approval of the approved), not the initial population's; unit is
	// the score's UCUM unit ("%" when "").
	ofNumerator bool
	unit        string
}

// measureDefs are the groups of each Measure, as profiles/measures define
// them.
var measureDefs = map[string][]groupDef{
	"ucp-uptake": {
		{id: "in-force", populations: []string{"initial-population"}},
		{id: "approved", populations: []string{"initial-population"}},
		{id: "ended", populations: []string{"initial-population"}},
	},
	"ucp-quality": {
		{id: "completeness", populations: []string{"initial-population", "numerator"}, median: true, extra: []string{stratifierSections}},
		{id: "overdue-review", populations: []string{"initial-population", "numerator"}},
	},
	"ucp-patient-started": {
		{id: "submissions", populations: []string{"initial-population"}},
		{id: "days-to-approval", populations: []string{"initial-population", "numerator"}, median: true, ofNumerator: true, unit: "d"},
	},
	"ucp-outcomes": {
		{id: "preferred-place", populations: []string{"denominator", "numerator"}},
		{id: "hospital-with-plan", populations: []string{"denominator", "numerator"}},
		{id: "hospital-without-plan", populations: []string{"denominator", "numerator"}},
	},
}

// tally holds the raw counts of one Measure before disclosure control.
type tally struct {
	total  map[[2]string]int    // (group, population) → count
	strata map[[4]string]int    // (group, population, stratifier, value) → count
	scores map[string][]float64 // group → the values a median is taken of
}

func newTally() *tally {
	return &tally{total: map[[2]string]int{}, strata: map[[4]string]int{}, scores: map[string][]float64{}}
}

func (t *tally) add(group, population string, strata [3]string) {
	t.total[[2]string{group, population}]++
	for i, s := range stratifiers {
		t.strata[[4]string{group, population, s, strata[i]}]++
	}
}

// period is [from, to): the days periodStart to periodEnd.
type period struct{ from, to time.Time }

func (p period) in(t time.Time) bool { return !t.IsZero() && !t.Before(p.from) && t.Before(p.to) }

// lastDay is the period's last day, for ages.
func (p period) lastDay() time.Time { return p.to.AddDate(0, 0, -1) }

// ageBand is the age band on day t of someone born on birth.
func ageBand(birth, t time.Time) string {
	if birth.IsZero() {
		return "unknown"
	}
	age := t.Year() - birth.Year()
	if t.Month() < birth.Month() || t.Month() == birth.Month() && t.Day() < birth.Day() {
		age--
	}
	switch {
	case age < 65:
		return "under-65"
	case age < 75:
		return "65-74"
	case age < 85:
		return "75-84"
	}
	return "85-and-over"
}

// firstApproval is a plan's first approval, zero when never approved.
func (d *data) firstApproval(pl *plan) time.Time {
	if ts := d.approvals[pl.id]; len(ts) > 0 {
		return ts[0]
	}
	return time.Time{}
}

// inForce reports whether pl is in force at the end of the period: first
// approved before its end, and active, or ended after it.
func (d *data) inForce(pl *plan, p period) bool {
	first := d.firstApproval(pl)
	if first.IsZero() || !first.Before(p.to) {
		return false
	}
	switch pl.status {
	case "active":
		return true
	case "revoked", "completed":
		return !pl.end.IsZero() && !pl.end.Before(p.to)
	}
	return false
}

func (d *data) strata(pl *plan, p period) [3]string {
	pt := d.patients[pl.patient]
	return [3]string{pt.ods, ageBand(pt.birth, p.lastDay()), d.group(pl.mainCondition)}
}

// evaluate counts measure over the period.
func (d *data) evaluate(measure string, p period) *tally {
	t := newTally()
	switch measure {
	case "ucp-uptake":
		counted := map[string]bool{}
		for _, pl := range d.plans {
			if d.inForce(pl, p) && !counted[pl.patient] {
				counted[pl.patient] = true
				t.add("in-force", "initial-population", d.strata(pl, p))
			}
			if p.in(d.firstApproval(pl)) {
				t.add("approved", "initial-population", d.strata(pl, p))
			}
			if (pl.status == "revoked" || pl.status == "completed") && p.in(pl.end) {
				t.add("ended", "initial-population", d.strata(pl, p))
			}
		}
	case "ucp-quality":
		yearBefore := p.to.AddDate(-1, 0, 0)
		for _, pl := range d.plans {
			if !d.inForce(pl, p) {
				continue
			}
			have := map[string]bool{}
			supporting := pl.supporting
			if refs, ok := d.inForceSections[pl.id]; ok {
				supporting = refs
			}
			for _, r := range supporting {
				switch r.Type {
				case "Observation":
					have[d.section(r.ID)] = true
				case "RelatedPerson":
					have[sectionContacts] = true
				case "Flag":
					have[sectionADRTLPA] = true
				case "MedicationStatement", "MedicationRequest":
					have[sectionMedicines] = true
				}
			}
			n := 0
			for _, s := range sections {
				if have[s] {
					n++
				}
			}
			var last time.Time
			for _, a := range d.approvals[pl.id] {
				if a.Before(p.to) {
					last = a
				}
			}
			if !last.Before(yearBefore) {
				n++
			}
			s := d.strata(pl, p)
			t.add("completeness", "initial-population", s)
			t.add("overdue-review", "initial-population", s)
			t.strata[[4]string{"completeness", "initial-population", stratifierSections, strconv.Itoa(n)}]++
			if n == len(sections)+1 {
				t.add("completeness", "numerator", s)
				t.strata[[4]string{"completeness", "numerator", stratifierSections, strconv.Itoa(n)}]++
			}
			if !pl.review.IsZero() && pl.review.Before(p.to) {
				t.add("overdue-review", "numerator", s)
			}
			t.scores["completeness"] = append(t.scores["completeness"], float64(n)*100/float64(len(sections)+1))
		}
	case "ucp-patient-started":
		// The first plan of each patient, for the condition group of a
		// submission no plan was made from yet.
		first := map[string]*plan{}
		for _, pl := range d.plans {
			if first[pl.patient] == nil {
				first[pl.patient] = pl
			}
		}
		for _, s := range d.submissions {
			if !p.in(s.at) {
				continue
			}
			pl := d.planByID[s.plan]
			if pl == nil {
				pl = first[s.patient]
			}
			pt := d.patients[s.patient]
			st := [3]string{pt.ods, ageBand(pt.birth, p.lastDay()), "other"}
			if pl != nil {
				st[2] = d.group(pl.mainCondition)
			}
			t.add("submissions", "initial-population", st)
			t.add("days-to-approval", "initial-population", st)
			if s.plan == "" {
				continue
			}
			// The plan's first approval at or after the submission, by the
			// period's end.
			for _, a := range d.approvals[s.plan] {
				if a.Before(s.at) {
					continue
				}
				if a.Before(p.to) {
					t.add("days-to-approval", "numerator", st)
					t.scores["days-to-approval"] = append(t.scores["days-to-approval"], day(a).Sub(day(s.at)).Hours()/24)
				}
				break
			}
		}
	case "ucp-outcomes":
		byPatient := map[string][]*plan{}
		for _, pl := range d.plans {
			byPatient[pl.patient] = append(byPatient[pl.patient], pl)
		}
		ids := make([]string, 0, len(byPatient))
		for id := range byPatient {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			pt := d.patients[id]
			if !p.in(pt.died) {
				continue
			}
			plans := byPatient[id]
			var approved *plan
			for _, pl := range plans {
				if a := d.firstApproval(pl); !a.IsZero() && !a.After(pt.died) && pl.status != "entered-in-error" {
					approved = pl
					break
				}
			}
			place := d.places[id]
			if place == nil {
				place = &place0
			}
			if approved != nil {
				s := d.strata(approved, p)
				t.add("preferred-place", "denominator", s)
				t.add("hospital-with-plan", "denominator", s)
				if place.achieved != nil && *place.achieved {
					t.add("preferred-place", "numerator", s)
				}
				if place.code == hospital {
					t.add("hospital-with-plan", "numerator", s)
				}
				continue
			}
			s := d.strata(plans[0], p)
			t.add("hospital-without-plan", "denominator", s)
			if place.code == hospital {
				t.add("hospital-without-plan", "numerator", s)
			}
		}
	}
	return t
}

// day is t's day (UTC): days to approval are whole days, so that an
// approval the next morning is a day.
func day(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// place0 stands for a death whose place was not recorded: it counts in
// the denominators, in no numerator.
var place0 place

const hospital = "10"

// Suppress is the disclosure control applied to every count published: 0
// stays 0, 1 to 4 is suppressed (ok false; published as "<5"), anything
// else is rounded to the nearest 5. Rounding every count on its own, the
// totals included, is what stops a suppressed cell from being worked back
// by subtracting the others from a total.
func Suppress(n int) (published int, ok bool) {
	switch {
	case n == 0:
		return 0, true
	case n < 5:
		return 0, false
	}
	return (n + 2) / 5 * 5, true
}

// median of xs (not empty).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
