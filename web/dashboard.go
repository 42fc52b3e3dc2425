package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/fhir/outcome"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/report/chart"
)

// The dashboard (/app/dashboard) draws the measures for the report role and
// admins: uptake by month, the completeness of plans in force, whether
// patients who died with a plan died in their preferred place, by practice,
// and the plans patients started themselves, by month, with the median days
// from submission to approval.
// Every number comes from Measure/{id}/$evaluate-measure, invoked through
// the service as the signed-in user (which authorises and audits each
// evaluation), so the page shows exactly what the operation publishes,
// suppressed cells ("<5") included, and nothing about any patient.

// maxMonths bounds the months one dashboard asks about (an evaluation each).
const maxMonths = 24

// dashboardQuery is the dashboard's form: the months and the practice.
type dashboardQuery struct {
	Start, End string // YYYY-MM, as typed
	ODS        string // "" for every practice
	from, to   time.Time
	months     int
}

var (
	monthPattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)
	odsPattern   = regexp.MustCompile(`^[A-Za-z0-9]{3,12}$`)
)

// dashboardForm reads the form; the problems are keyed by field id.
func (a *App) dashboardForm(r *http.Request) (dashboardQuery, map[string]string) {
	now := a.cfg.Now().UTC()
	q := dashboardQuery{Start: r.URL.Query().Get("start"), End: r.URL.Query().Get("end"), ODS: r.URL.Query().Get("ods")}
	if q.End == "" {
		q.End = now.Format("2006-01")
	}
	if q.Start == "" {
		if e, err := time.Parse("2006-01", q.End); err == nil {
			q.Start = e.AddDate(0, -11, 0).Format("2006-01")
		}
	}
	errs := map[string]string{}
	from, err := time.Parse("2006-01", q.Start)
	if !monthPattern.MatchString(q.Start) || err != nil {
		errs["start"] = "Enter the first month as a year and month, like 2026-01"
	}
	to, err := time.Parse("2006-01", q.End)
	if !monthPattern.MatchString(q.End) || err != nil {
		errs["end"] = "Enter the last month as a year and month, like 2026-12"
	}
	if len(errs) == 0 {
		q.months = (to.Year()-from.Year())*12 + int(to.Month()-from.Month()) + 1
		switch {
		case q.months < 1:
			errs["end"] = "The last month must not be before the first month"
		case q.months > maxMonths:
			errs["end"] = fmt.Sprintf("Choose %d months or fewer", maxMonths)
		}
	}
	if q.ODS != "" && !odsPattern.MatchString(q.ODS) {
		errs["ods"] = "Choose a practice from the list"
	}
	q.from, q.to = from, to.AddDate(0, 1, -1)
	return q, errs
}

// dashboardData is the page's data.
type dashboardData struct {
	Query     dashboardQuery
	Errors    map[string]string
	Practices []string // ODS codes to choose from
	Period    string   // the period in words
	Charts    []dashboardChart
	Median    string // the median completeness, or why there is none
	// DaysToApproval is the median days from a patient's submission to
	// the approval of the plan made from it, or why there is none.
	DaysToApproval string
	QueryString    string // the form's values, for the CSV links
}

// dashboardChart is one chart with its table and CSV link.
type dashboardChart struct {
	ID, Heading, Intro string
	SVG                template.HTML
	Table              template.HTML
}

// dashboardInput reads and checks the form. The practices on offer are
// those with a plan approved in the last ten years; evaluating that first
// also refuses, in words, anyone who may not evaluate measures, before the
// form is shown.
func (a *App) dashboardInput(c *gin.Context) (dashboardQuery, map[string]string, []string, error) {
	q, errs := a.dashboardForm(c.Request)
	whole, err := a.evaluate(c, "ucp-uptake", time.Time{}, a.cfg.Now().UTC(), "")
	if err != nil {
		return q, nil, nil, err
	}
	practices := whole.strata("approved", "ods")
	if q.ODS != "" && !slices.Contains(practices, q.ODS) && errs["ods"] == "" {
		errs["ods"] = "Choose a practice from the list"
	}
	return q, errs, practices, nil
}

func (a *App) dashboard(c *gin.Context, v *view) error {
	v.Title = "Care plan measures"
	q, errs, practices, err := a.dashboardInput(c)
	if err != nil {
		return err
	}
	d := &dashboardData{Query: q, Errors: errs, Practices: practices}
	v.Data = d
	if len(errs) > 0 {
		v.status = http.StatusBadRequest
		a.render(c, "dashboard", v)
		return nil
	}
	d.Period = q.from.Format("January 2006") + " to " + q.to.Format("January 2006")
	if q.months == 1 {
		d.Period = q.from.Format("January 2006")
	}
	d.QueryString = url.Values{"start": {q.Start}, "end": {q.End}, "ods": {q.ODS}}.Encode()
	charts, med, err := a.dashboardCharts(c, q)
	if err != nil {
		return err
	}
	d.Median, d.DaysToApproval = med.completeness, med.daysToApproval
	for _, ch := range charts {
		d.Charts = append(d.Charts, dashboardChart{ID: ch.id, Heading: ch.Title, Intro: ch.intro, SVG: ch.svg(), Table: chart.Table(ch.Chart)})
	}
	a.render(c, "dashboard", v)
	return nil
}

// dashboardCSV is /app/dashboard/{chart}.csv: one chart's numbers.
func (a *App) dashboardCSV(c *gin.Context, v *view) error {
	v.Title = "Care plan measures"
	q, errs, _, err := a.dashboardInput(c)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return outcome.Errorf(outcome.Invalid, "the months or the practice asked for are not valid: go back to the dashboard and choose again")
	}
	charts, _, err := a.dashboardCharts(c, q)
	if err != nil {
		return err
	}
	for _, ch := range charts {
		if ch.id+".csv" == c.Param("file") {
			var b bytes.Buffer
			if err := chart.CSV(&b, ch.Chart); err != nil {
				return err
			}
			name := fmt.Sprintf("ucp-%s-%s-to-%s", ch.id, q.Start, q.End)
			if q.ODS != "" {
				name += "-" + q.ODS
			}
			c.Header("Content-Disposition", `attachment; filename="`+name+`.csv"`)
			c.Header("Cache-Control", "no-store")
			c.Header("X-Content-Type-Options", "nosniff")
			c.Data(http.StatusOK, "text/csv; charset=utf-8", b.Bytes())
			return nil
		}
	}
	return outcome.Errorf(outcome.NotFound, "there is no chart of that name")
}

// namedChart is a chart of the dashboard.
type namedChart struct {
	chart.Chart
	id, intro string
	line      bool
}

func (n namedChart) svg() template.HTML {
	if n.line {
		return template.HTML(chart.Line(n.Chart)) // chart escapes what it draws
	}
	return template.HTML(chart.Bar(n.Chart))
}

// medians are the dashboard's published medians, or why each is not.
type medians struct{ completeness, daysToApproval string }

// dashboardCharts evaluates what the charts show: the uptake and the
// patient-started plans of each month, and the quality and outcomes of the
// whole period.
func (a *App) dashboardCharts(c *gin.Context, q dashboardQuery) ([]namedChart, medians, error) {
	var med medians
	uptake := namedChart{id: "uptake", line: true,
		intro: "Patients with an approved plan in force at the end of each month, plans approved in the month, and plans revoked or completed in the month.",
		Chart: chart.Chart{Title: "Uptake by month", Unit: "plans", Series: []chart.Series{
			{Name: "Patients with a plan in force"}, {Name: "Plans approved"}, {Name: "Plans ended"}}}}
	for i := range q.months {
		from := q.from.AddDate(0, i, 0)
		mr, err := a.evaluate(c, "ucp-uptake", from, from.AddDate(0, 1, -1), q.ODS)
		if err != nil {
			return nil, med, err
		}
		label := from.Format("Jan 2006")
		for si, g := range []string{"in-force", "approved", "ended"} {
			uptake.Series[si].Points = append(uptake.Series[si].Points, mr.point(label, g, "initial-population"))
		}
	}

	quality, err := a.evaluate(c, "ucp-quality", q.from, q.to, q.ODS)
	if err != nil {
		return nil, med, err
	}
	completeness := namedChart{id: "completeness",
		intro: "Plans in force at the end of the period by how many of the eight recommended sections they have: CPR decision, ceiling of treatment, preferred place of care, preferred place of death, key contacts, ADRT or LPA status, anticipatory medicines, and a review in the last 12 months.",
		Chart: chart.Chart{Title: "Completeness of plans in force", Unit: "plans", Series: []chart.Series{{Name: "Plans in force"}}}}
	for n := 0; n <= 8; n++ {
		p := quality.stratumPoint("completeness", "sections", strconv.Itoa(n), "initial-population")
		p.Label = fmt.Sprintf("%d of 8", n)
		completeness.Series[0].Points = append(completeness.Series[0].Points, p)
	}
	med.completeness = "not published: fewer than 5 plans are in force"
	if s, ok := quality.score("completeness"); ok {
		med.completeness = s + "%"
	}

	outcomes, err := a.evaluate(c, "ucp-outcomes", q.from, q.to, q.ODS)
	if err != nil {
		return nil, med, err
	}
	place := namedChart{id: "preferred-place",
		intro: "Patients who died in the period with an approved plan, and of them those who died in their preferred place, by GP practice.",
		Chart: chart.Chart{Title: "Preferred place of death achieved, by practice", Unit: "patients", Series: []chart.Series{
			{Name: "Died with an approved plan"}, {Name: "Died in their preferred place"}}}}
	for _, ods := range outcomes.strata("preferred-place", "ods") {
		place.Series[0].Points = append(place.Series[0].Points, outcomes.stratumPoint("preferred-place", "ods", ods, "denominator"))
		place.Series[1].Points = append(place.Series[1].Points, outcomes.stratumPoint("preferred-place", "ods", ods, "numerator"))
	}

	started := namedChart{id: "patient-started",
		intro: "Patients who sent their practice their wishes from the web app, each month, and how many of those submissions had become an approved plan by the end of that month.",
		Chart: chart.Chart{Title: "Patient-started plans by month", Unit: "submissions", Series: []chart.Series{
			{Name: "Submissions"}, {Name: "Approved by the month's end"}}}}
	for i := range q.months {
		from := q.from.AddDate(0, i, 0)
		mr, err := a.evaluate(c, "ucp-patient-started", from, from.AddDate(0, 1, -1), q.ODS)
		if err != nil {
			return nil, med, err
		}
		label := from.Format("Jan 2006")
		started.Series[0].Points = append(started.Series[0].Points, mr.point(label, "submissions", "initial-population"))
		started.Series[1].Points = append(started.Series[1].Points, mr.point(label, "days-to-approval", "numerator"))
	}
	whole, err := a.evaluate(c, "ucp-patient-started", q.from, q.to, q.ODS)
	if err != nil {
		return nil, med, err
	}
	med.daysToApproval = "not published: fewer than 5 submissions in the period became approved plans"
	if s, ok := whole.score("days-to-approval"); ok {
		med.daysToApproval = s + " days"
	}
	return []namedChart{uptake, completeness, place, started}, med, nil
}

// evaluate invokes Measure/{id}/$evaluate-measure as the signed-in user.
// Service.Operation authorises and audits the call; a refusal is said in
// words a person understands. A zero from asks from the earliest period the
// operation allows.
func (a *App) evaluate(c *gin.Context, measure string, from, to time.Time, ods string) (*measureReport, error) {
	if from.IsZero() {
		from = to.AddDate(-10, 0, 1)
	}
	q := url.Values{"periodStart": {from.Format("2006-01-02")}, "periodEnd": {to.Format("2006-01-02")}}
	if ods != "" {
		q.Set("subject", "Organization?identifier="+profiles.SystemODSCode+"|"+ods)
	}
	call := &service.Call{Disclosure: &service.Disclosure{}}
	ctx := c.Request.Context()
	res, err := a.cfg.FHIR(call).Operation(ctx, &service.OperationRequest{Name: "evaluate-measure", Method: http.MethodGet,
		Type: "Measure", ID: measure, Query: q, RawQuery: q.Encode(), Path: c.Request.URL.Path})
	if err != nil {
		if outcome.KindOf(err) == outcome.Forbidden || outcome.KindOf(err) == outcome.Unauthenticated {
			return nil, outcome.Errorf(outcome.Forbidden, "The care plan measures are counts for commissioners: only the reporting role and administrators can see them. Ask your organisation's administrator if you need them.")
		}
		return nil, err
	}
	var mr measureReport
	if err := json.Unmarshal(res.Body, &mr); err != nil {
		return nil, fmt.Errorf("web: the MeasureReport of %s: %w", measure, err)
	}
	return &mr, nil
}

// measureReport is what the dashboard reads of a summary MeasureReport.
type (
	measureReport struct {
		Group []struct {
			ID           string             `json:"id"`
			Population   []reportPopulation `json:"population"`
			MeasureScore *struct {
				Value json.Number `json:"value"`
			} `json:"measureScore"`
			Stratifier []struct {
				Code []struct {
					Text string `json:"text"`
				} `json:"code"`
				Stratum []struct {
					Value struct {
						Text string `json:"text"`
					} `json:"value"`
					Population []reportPopulation `json:"population"`
				} `json:"stratum"`
			} `json:"stratifier"`
		} `json:"group"`
	}
	reportPopulation struct {
		Code struct {
			Coding []struct {
				Code string `json:"code"`
			} `json:"coding"`
		} `json:"code"`
		Count     *int `json:"count"`
		Extension []struct {
			URL         string `json:"url"`
			ValueString string `json:"valueString"`
		} `json:"extension"`
	}
)

// published is a population's count as chart draws it; a population the
// report leaves out is 0.
func published(label string, pops []reportPopulation, code string) chart.Point {
	for _, p := range pops {
		if len(p.Code.Coding) == 0 || p.Code.Coding[0].Code != code {
			continue
		}
		if p.Count != nil {
			return chart.Point{Label: label, Value: float64(*p.Count)}
		}
		text := "<5"
		for _, x := range p.Extension {
			if x.ValueString != "" {
				text = x.ValueString
			}
		}
		return chart.Point{Label: label, Suppressed: true, Text: text}
	}
	return chart.Point{Label: label}
}

// point is a group's population count.
func (m *measureReport) point(label, group, population string) chart.Point {
	for _, g := range m.Group {
		if g.ID == group {
			return published(label, g.Population, population)
		}
	}
	return chart.Point{Label: label}
}

// stratumPoint is a population's count in one stratum; a stratum the report
// does not list has nobody in it.
func (m *measureReport) stratumPoint(group, stratifier, value, population string) chart.Point {
	for _, g := range m.Group {
		for _, s := range g.Stratifier {
			if g.ID != group || len(s.Code) == 0 || s.Code[0].Text != stratifier {
				continue
			}
			for _, st := range s.Stratum {
				if st.Value.Text == value {
					return published(value, st.Population, population)
				}
			}
		}
	}
	return chart.Point{Label: value}
}

// strata are the values of a group's stratifier, in the report's order.
func (m *measureReport) strata(group, stratifier string) []string {
	var out []string
	for _, g := range m.Group {
		for _, s := range g.Stratifier {
			if g.ID == group && len(s.Code) > 0 && s.Code[0].Text == stratifier {
				for _, st := range s.Stratum {
					out = append(out, st.Value.Text)
				}
			}
		}
	}
	return out
}

// score is a group's published score.
func (m *measureReport) score(group string) (string, bool) {
	for _, g := range m.Group {
		if g.ID == group && g.MeasureScore != nil {
			return g.MeasureScore.Value.String(), true
		}
	}
	return "", false
}
