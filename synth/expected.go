package synth

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// Facts is what the generator decided for one patient, kept beside the
// resources so that Expected can compute the measures from the story
// itself, without reading the resources as the server does: two
// independent readings that the tests hold to the same answer.
type Facts struct {
	ODS, OrgID string    // the GP practice
	Birth      time.Time // date of birth
	Group      string    // main condition group: cancer, organ-failure, dementia-frailty, neurological
	// Approvals are the times the plan was approved (first and reviews).
	Approvals []time.Time
	// Status is the plan's final status; Ended its end (revoked or
	// completed); Review the review date of its final version.
	Status        string
	Ended, Review time.Time
	// Sections are the recommended sections the plan has, by name (see
	// sectionNames); ApprovedSections those of the version each approval
	// approved, in the order of Approvals.
	Sections         map[string]bool
	ApprovedSections []map[string]bool
	// Died is when the patient died (zero: alive); Place the actual place
	// of death (NHS Data Dictionary code); Achieved whether the first
	// choice was met, nil when it cannot be told.
	Died     time.Time
	Place    string
	Achieved *bool
	// Submitted is when the patient sent their own answers (zero: never);
	// SubmissionApproved whether the plan made from them is the one
	// approved (first at Approvals[0]).
	Submitted          time.Time
	SubmissionApproved bool
}

// sectionNames are the recommended sections of the quality measure, but
// the review in the last 12 months, which depends on the period.
var sectionNames = []string{"cpr", "ceiling", "place-of-care", "place-of-death", "contacts", "adrt-lpa", "medicines"}

// noteSection records a section the plan references, by the generator's
// own tag for it.
func (f *Facts) noteSection(typ, tag string) {
	if f.Sections == nil {
		f.Sections = map[string]bool{}
	}
	switch {
	case typ == "Observation" && tag == "cpr":
		f.Sections["cpr"] = true
	case typ == "Observation" && tag == "tep":
		f.Sections["ceiling"] = true
	case typ == "Observation" && tag == "ppc1":
		f.Sections["place-of-care"] = true
	case typ == "Observation" && (tag == "ppd1" || tag == "ppd2"):
		f.Sections["place-of-death"] = true
	case typ == "RelatedPerson":
		f.Sections["contacts"] = true
	case typ == "Flag":
		f.Sections["adrt-lpa"] = true
	case typ == "MedicationStatement":
		f.Sections["medicines"] = true
	}
}

// Values are measure results keyed "measure/group/population" (or
// ".../population/stratifier=stratum", or "measure/group/score"), each
// as published: a count after disclosure control, or a score.
type Values map[string]string

// Write prints v sorted, one "key<TAB>value" line each.
func (v Values) Write(w io.Writer) error {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%s\t%s\n", k, v[k]); err != nil {
			return err
		}
	}
	return nil
}

// Expected computes the measures' published values for what opts
// generates, over the days start to end (inclusive, UTC), for one
// practice's patients when ods is not "". It generates the data again
// and reads only the Facts.
func Expected(opts Options, start, end time.Time, ods string) (Values, error) {
	e := expectation{from: start, to: end.AddDate(0, 0, 1), v: Values{}}
	err := Generate(opts, writerOf(func(r *Record) error {
		if ods == "" || r.Facts.ODS == ods {
			e.add(r.Facts)
		}
		return nil
	}))
	if err != nil {
		return nil, err
	}
	return e.publish(), nil
}

type writerOf func(*Record) error

func (f writerOf) Write(r *Record) error { return f(r) }

type cell struct {
	measure, group, population string
	strata                     [3]string // ods, age band, condition group
}

type expectation struct {
	from, to time.Time // [from, to)
	counts   map[cell]int
	scores   map[string][]float64 // completeness of each plan in force
	sections map[string]int       // "population/sections=n" → plans in force with n sections
	v        Values
}

func (e *expectation) count(measure, group, population string, f *Facts, at time.Time) {
	if e.counts == nil {
		e.counts = map[cell]int{}
	}
	e.counts[cell{measure, group, population, [3]string{f.ODS, band(f.Birth, at), f.Group}}]++
}

// band is the age band on day t.
func band(birth, t time.Time) string {
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

// deathStream seeds the random stream of deaths before approval, apart
// from the patient's own.
const deathStream = 0x6465617468

func (e *expectation) add(f *Facts) {
	end := e.to.Add(-time.Nanosecond) // the last instant of the period
	approvedBy := func(t time.Time) bool { return len(f.Approvals) > 0 && !f.Approvals[0].After(t) }
	inForce := approvedBy(end) && f.Status == "active" || approvedBy(end) && (f.Status == "completed" || f.Status == "revoked") && !f.Ended.Before(e.to)
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(e.from) && t.Before(e.to) }
	ageAt := e.to.AddDate(0, 0, -1) // the period's last day

	// Uptake.
	if inForce {
		e.count("ucp-uptake", "in-force", "initial-population", f, ageAt)
	}
	if len(f.Approvals) > 0 && in(f.Approvals[0]) {
		e.count("ucp-uptake", "approved", "initial-population", f, ageAt)
	}
	if (f.Status == "revoked" || f.Status == "completed") && in(f.Ended) {
		e.count("ucp-uptake", "ended", "initial-population", f, ageAt)
	}

	// Quality.
	if inForce {
		// The sections of the version approved last by the period's end:
		// what was in force then.
		k := 0
		for j, a := range f.Approvals {
			if !a.After(end) && a.After(f.Approvals[k]) {
				k = j
			}
		}
		last := f.Approvals[k]
		have := 0
		for _, s := range sectionNames {
			if f.ApprovedSections[k][s] {
				have++
			}
		}
		if !last.Before(e.to.AddDate(-1, 0, 0)) {
			have++
		}
		e.count("ucp-quality", "completeness", "initial-population", f, ageAt)
		e.count("ucp-quality", "overdue-review", "initial-population", f, ageAt)
		if e.sections == nil {
			e.sections = map[string]int{}
		}
		e.sections[fmt.Sprintf("initial-population/sections=%d", have)]++
		if have == len(sectionNames)+1 {
			e.count("ucp-quality", "completeness", "numerator", f, ageAt)
			e.sections[fmt.Sprintf("numerator/sections=%d", have)]++
		}
		if !f.Review.IsZero() && f.Review.Before(e.to) {
			e.count("ucp-quality", "overdue-review", "numerator", f, ageAt)
		}
		if e.scores == nil {
			e.scores = map[string][]float64{}
		}
		e.scores["completeness"] = append(e.scores["completeness"], float64(have)*100/float64(len(sectionNames)+1))
	}

	// Patient-started plans: submissions in the period, and the whole days
	// from each to its plan's first approval, when that was by the period's
	// end.
	if in(f.Submitted) {
		e.count("ucp-patient-started", "submissions", "initial-population", f, ageAt)
		e.count("ucp-patient-started", "days-to-approval", "initial-population", f, ageAt)
		if f.SubmissionApproved && f.Approvals[0].Before(e.to) {
			e.count("ucp-patient-started", "days-to-approval", "numerator", f, ageAt)
			if e.scores == nil {
				e.scores = map[string][]float64{}
			}
			day := func(t time.Time) time.Time { y, m, d := t.Date(); return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
			e.scores["days-to-approval"] = append(e.scores["days-to-approval"], day(f.Approvals[0]).Sub(day(f.Submitted)).Hours()/24)
		}
	}

	// Outcomes.
	if in(f.Died) {
		if approvedBy(f.Died) {
			e.count("ucp-outcomes", "preferred-place", "denominator", f, ageAt)
			e.count("ucp-outcomes", "hospital-with-plan", "denominator", f, ageAt)
			if f.Achieved != nil && *f.Achieved {
				e.count("ucp-outcomes", "preferred-place", "numerator", f, ageAt)
			}
			if f.Place == "10" {
				e.count("ucp-outcomes", "hospital-with-plan", "numerator", f, ageAt)
			}
		} else {
			e.count("ucp-outcomes", "hospital-without-plan", "denominator", f, ageAt)
			if f.Place == "10" {
				e.count("ucp-outcomes", "hospital-without-plan", "numerator", f, ageAt)
			}
		}
	}
}

// groups lists every group of every measure with its populations, so a
// population nobody falls in is published as 0.
var groups = []struct{ measure, group, populations string }{
	{"ucp-uptake", "in-force", "initial-population"},
	{"ucp-uptake", "approved", "initial-population"},
	{"ucp-uptake", "ended", "initial-population"},
	{"ucp-quality", "completeness", "initial-population numerator"},
	{"ucp-quality", "overdue-review", "initial-population numerator"},
	{"ucp-outcomes", "preferred-place", "denominator numerator"},
	{"ucp-outcomes", "hospital-with-plan", "denominator numerator"},
	{"ucp-outcomes", "hospital-without-plan", "denominator numerator"},
	{"ucp-patient-started", "submissions", "initial-population"},
	{"ucp-patient-started", "days-to-approval", "initial-population numerator"},
}

var stratifiers = []string{"ods", "age-band", "condition-group"}

// publish applies disclosure control (see suppress) to the counts and
// computes the scores from what is published.
func (e *expectation) publish() Values {
	total := map[[3]string]int{}
	strata := map[string]int{}
	for c, n := range e.counts {
		total[[3]string{c.measure, c.group, c.population}] += n
		for i, s := range stratifiers {
			strata[c.measure+"/"+c.group+"/"+c.population+"/"+s+"="+c.strata[i]] += n
		}
	}
	for _, g := range groups {
		var pops []string
		for _, p := range splitSpace(g.populations) {
			pops = append(pops, p)
			e.v[g.measure+"/"+g.group+"/"+p] = suppress(total[[3]string{g.measure, g.group, p}])
		}
		if len(pops) == 2 {
			den, num := total[[3]string{g.measure, g.group, pops[0]}], total[[3]string{g.measure, g.group, pops[1]}]
			if g.group == "completeness" {
				if den >= 5 {
					e.v[g.measure+"/"+g.group+"/score"] = formatScore(median(e.scores["completeness"]))
				}
			} else if g.group == "days-to-approval" {
				if num >= 5 { // the median of the approved ones
					e.v[g.measure+"/"+g.group+"/score"] = formatScore(median(e.scores["days-to-approval"]))
				}
			} else if r, ok := proportion(num, den); ok {
				e.v[g.measure+"/"+g.group+"/score"] = r
			}
		}
	}
	for k, n := range strata {
		e.v[k] = suppress(n)
	}
	for k, n := range e.sections {
		e.v["ucp-quality/completeness/"+k] = suppress(n)
	}
	return e.v
}

func splitSpace(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// suppress is NHS disclosure control as the generator reads it: 0 stays
// 0, 1 to 4 is "<5", anything else is rounded to the nearest 5, so that a
// suppressed cell cannot be worked back from a total.
func suppress(n int) string {
	switch {
	case n == 0:
		return "0"
	case n < 5:
		return "<5"
	}
	return strconv.Itoa((n + 2) / 5 * 5)
}

// proportion is the published share, in per cent to one decimal place,
// of the published (rounded) counts; none when either is suppressed.
func proportion(num, den int) (string, bool) {
	if den < 5 || num > 0 && num < 5 {
		return "", false
	}
	rn, rd := (num+2)/5*5, (den+2)/5*5
	return formatScore(float64(rn) * 100 / float64(rd)), true
}

func formatScore(x float64) string {
	return strconv.FormatFloat(float64(int64(x*10+0.5))/10, 'f', 1, 64)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
