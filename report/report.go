package report

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

// Reader is what an evaluation reads through: the FHIR service's search and
// history. *service.Service satisfies it.
type Reader interface {
	Search(ctx context.Context, r service.SearchRequest) (*service.SearchResult, error)
	History(ctx context.Context, r service.HistoryRequest) (*service.HistoryResult, error)
	VRead(ctx context.Context, typ, id string, vid int64) (*store.Version, error)
}

// ReadAs is the principal an evaluation reads as (see the package doc): an
// admin, whom the care-plan read rules show every plan, named so that
// nothing it does is taken for a person's.
var ReadAs = auth.Principal{Role: auth.RoleAdmin, Subject: "ucp-report", UserID: "ucp-report", Name: "ucp measure evaluation"}

// Config configures Reports.
type Config struct {
	// Service is the trusted in-process service the evaluation reads
	// through; required.
	Service Reader
	// Now is the clock (the MeasureReport's date); nil means time.Now.
	Now func() time.Time
	// Refresh is how often Run reads the register whole again in the
	// background (between those reads, evaluations bring the facts up to
	// date from the histories; see facts); 0 means an hour.
	Refresh time.Duration
}

// Reports evaluates the embedded Measures.
type Reports struct {
	cfg      Config
	measures map[string]map[string]any // id → Measure
	facts    *facts
}

// New returns Reports for cfg.
func New(cfg Config) (*Reports, error) {
	if cfg.Service == nil {
		return nil, errors.New("report: Config.Service is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Hour
	}
	// The facts follow the store's clock (meta.lastUpdated), not cfg.Now,
	// which may be fixed for a report's date.
	r := &Reports{cfg: cfg, measures: map[string]map[string]any{}, facts: newFacts(time.Now)}
	for _, m := range profiles.Measures() {
		id := resource.ID(m)
		if _, ok := measureDefs[id]; !ok {
			return nil, errors.New("report: no evaluation for the embedded Measure " + id)
		}
		r.measures[id] = m
	}
	return r, nil
}

// Warm reads what the measures use ahead of the first evaluation, so that
// no caller waits for the whole register to be read (ucp serve runs it in
// the background at start). It reads as ReadAs, like an evaluation.
func (r *Reports) Warm(ctx context.Context) error {
	return r.facts.sync(auth.NewContext(ctx, &ReadAs), r.cfg.Service, func(map[string]map[string]*fact) error { return nil })
}

// Reread reads the register whole again and puts what it read in place
// of the kept facts. Evaluations do not wait for it: while it reads, they
// answer from the kept facts and the changes since. It reads as ReadAs.
func (r *Reports) Reread(ctx context.Context) error {
	return r.facts.reread(auth.NewContext(ctx, &ReadAs), r.cfg.Service)
}

// Run keeps the facts for evaluations until ctx ends: Warm, then Reread
// every Config.Refresh, so that anything the reads of changes missed
// cannot last, and no evaluation waits for a whole read (some 100 s at
// 124,000 patients). A failed read is logged and tried again at the next
// tick; evaluations meanwhile go on from the kept facts and the changes.
func (r *Reports) Run(ctx context.Context, log *slog.Logger) {
	if err := r.Warm(ctx); err != nil && ctx.Err() == nil {
		log.Warn("reading the register for the measures failed; the first evaluation will read it", "err", err)
	}
	tick := time.NewTicker(r.cfg.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := r.Reread(ctx); err != nil && ctx.Err() == nil {
				log.Warn("reading the register again for the measures failed; evaluations go on from the facts kept and the changes", "err", err)
			}
		}
	}
}

// Operations returns Measure/{id}/$evaluate-measure for the REST server.
func (r *Reports) Operations() []service.Operation {
	return []service.Operation{{
		Name:          "evaluate-measure",
		Definition:    "http://hl7.org/fhir/OperationDefinition/Measure-evaluate-measure",
		Documentation: "Evaluates one of ucp's Measures (ucp-uptake, ucp-quality, ucp-outcomes, ucp-patient-started) to a summary MeasureReport stratified by ODS code, age band and condition group. Parameters: periodStart and periodEnd (YYYY-MM-DD, inclusive), subject (Organization/{id}: that practice's patients), reportType (summary). Counts of 1 to 4 are suppressed and other counts rounded to 5. For the report role and admins.",
		Instance:      []string{"Measure"},
		Handler:       r.evaluateOp,
	}}
}

// odsSubject begins the subject parameter that names a practice by its ODS
// code.
const odsSubject = "Organization?identifier=" + profiles.SystemODSCode + "|"

// validODS reports whether s looks like an ODS code: 3 to 12 letters and
// digits.
func validODS(s string) bool {
	if len(s) < 3 || len(s) > 12 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// maxPeriod bounds a period: ten years covers any register's history.
const maxPeriod = 10 * 366 * 24 * time.Hour

// request is the operation's checked parameters.
type request struct {
	measure string
	period  period
	start   string
	end     string
	org     string // Organization id of subject=Organization/{id}
	ods     string // ODS code of subject=Organization?identifier=…|{code}
}

func params(req *service.OperationRequest) (request, error) {
	known := map[string]bool{"periodStart": true, "periodEnd": true, "subject": true, "reportType": true}
	for name := range req.Query {
		if !known[name] && name != "_format" && name != "_pretty" { // the response format is the REST layer's
			return request{}, outcome.Errorf(outcome.Invalid, "unknown parameter %q: $evaluate-measure takes periodStart, periodEnd, subject and reportType", name)
		}
	}
	ps, _ := req.Parameters["parameter"].([]any)
	for i, x := range ps {
		m, _ := x.(map[string]any)
		if name, _ := m["name"].(string); !known[name] {
			return request{}, outcome.Errorf(outcome.Invalid, "Parameters.parameter[%d]: unknown parameter %q", i, name)
		}
	}
	if req.Resource != nil {
		return request{}, outcome.Errorf(outcome.Invalid, "$evaluate-measure takes a Parameters resource, not a %s", resource.Type(req.Resource))
	}
	out := request{measure: req.ID, start: req.String("periodStart"), end: req.String("periodEnd")}
	if out.start == "" || out.end == "" {
		return out, outcome.Errorf(outcome.Invalid, "periodStart and periodEnd are required (YYYY-MM-DD)")
	}
	from, err1 := time.Parse("2006-01-02", out.start)
	to, err2 := time.Parse("2006-01-02", out.end)
	if err1 != nil || err2 != nil {
		return out, outcome.Errorf(outcome.Invalid, "periodStart %q and periodEnd %q must be days, YYYY-MM-DD", out.start, out.end)
	}
	to = to.AddDate(0, 0, 1)
	if !from.Before(to) {
		return out, outcome.Errorf(outcome.Invalid, "periodEnd %s is before periodStart %s", out.end, out.start)
	}
	if to.Sub(from) > maxPeriod {
		return out, outcome.Errorf(outcome.Invalid, "the period %s to %s is longer than ten years", out.start, out.end)
	}
	out.period = period{from: from, to: to}
	switch rt := req.String("reportType"); rt {
	case "", "summary":
	default:
		return out, outcome.Errorf(outcome.Invalid, "reportType %q: only summary is served (counts, never a patient's data)", rt)
	}
	if s := req.String("subject"); strings.HasPrefix(s, odsSubject) {
		// A practice by its ODS code, as a conditional reference: the
		// report role reads no Organization to learn its id.
		out.ods = strings.TrimPrefix(s, odsSubject)
		if !validODS(out.ods) {
			return out, outcome.Errorf(outcome.Invalid, "subject %q: expected an ODS code (letters and digits) after %s", s, odsSubject)
		}
	} else if s != "" {
		ref := resource.ParseReference(s)
		if ref.Type != "Organization" || !ref.IsLocal() || ref.Version != "" || !resource.ValidID(ref.ID) {
			return out, outcome.Errorf(outcome.Invalid, "subject %q: expected Organization/{id}, a GP practice", s)
		}
		out.org = ref.ID
	}
	return out, nil
}

// evaluateOp is Measure/{id}/$evaluate-measure.
func (r *Reports) evaluateOp(ctx context.Context, req *service.OperationRequest) (int, any, error) {
	in, err := params(req)
	if err != nil {
		return 0, nil, err
	}
	m, ok := r.measures[in.measure]
	if !ok {
		return 0, nil, outcome.Errorf(outcome.NotFound, "Measure/%s is not one of the measures this server evaluates (ucp-uptake, ucp-quality, ucp-outcomes, ucp-patient-started)", in.measure)
	}
	// The reads run as ReadAs in a context of their own (see the package
	// doc), ended with the request's.
	rctx, cancel := context.WithCancel(auth.NewContext(context.Background(), &ReadAs))
	defer cancel()
	if dl, ok := ctx.Deadline(); ok {
		var c2 context.CancelFunc
		rctx, c2 = context.WithDeadline(rctx, dl)
		defer c2()
	}
	defer context.AfterFunc(ctx, cancel)()
	var t *tally
	err = r.facts.sync(rctx, r.cfg.Service, func(byType map[string]map[string]*fact) error {
		var keep func(string) bool
		switch {
		case in.org != "":
			keep = func(id string) bool { return id == in.org }
		case in.ods != "":
			keep = func(id string) bool { o := byType["Organization"][id]; return o != nil && o.ods == in.ods }
		}
		d := derive(byType, keep)
		if in.measure == "ucp-quality" {
			if err := r.facts.approvedSections(rctx, r.cfg.Service, d, in.period); err != nil {
				return err
			}
		}
		t = d.evaluate(in.measure, in.period)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, err
	}
	return http.StatusOK, r.measureReport(m, in, t), nil
}

// Wire types of the MeasureReport, the elements ucp sets.
type (
	measureReport struct {
		ResourceType string        `json:"resourceType"`
		Status       string        `json:"status"`
		Type         string        `json:"type"`
		Measure      string        `json:"measure"`
		Subject      *reference    `json:"subject,omitempty"`
		Date         string        `json:"date"`
		Period       periodJSON    `json:"period"`
		Group        []reportGroup `json:"group"`
	}
	reference struct {
		Reference string `json:"reference"`
	}
	periodJSON struct {
		Start string `json:"start"`
		End   string `json:"end"`
	}
	codeText struct {
		Text string `json:"text"`
	}
	popCode struct {
		Coding []coding `json:"coding"`
	}
	extension struct {
		URL         string `json:"url"`
		ValueCode   string `json:"valueCode,omitempty"`
		ValueString string `json:"valueString,omitempty"`
	}
	population struct {
		Extension []extension `json:"extension,omitempty"`
		Code      popCode     `json:"code"`
		Count     *int        `json:"count,omitempty"`
	}
	quantity struct {
		Value  json.Number `json:"value"`
		Unit   string      `json:"unit"`
		System string      `json:"system"`
		Code   string      `json:"code"`
	}
	stratum struct {
		Value      codeText     `json:"value"`
		Population []population `json:"population"`
	}
	stratifier struct {
		Code    []codeText `json:"code"`
		Stratum []stratum  `json:"stratum"`
	}
	reportGroup struct {
		ID           string       `json:"id"`
		Code         codeText     `json:"code"`
		Population   []population `json:"population"`
		MeasureScore *quantity    `json:"measureScore,omitempty"`
		Stratifier   []stratifier `json:"stratifier"`
	}
)

const (
	systemMeasurePopulation = "http://terminology.hl7.org/CodeSystem/measure-population"
	extDataAbsentReason     = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
	// ExtensionSuppressed marks a population count left out by disclosure
	// control, with the text a reader sees ("<5").
	ExtensionSuppressed = "https://ucp.example.org/fhir/StructureDefinition/UCPSuppressedCount"
)

// pop is one population's published count.
func pop(code string, n int) population {
	p := population{Code: popCode{Coding: []coding{{System: systemMeasurePopulation, Code: code}}}}
	if v, ok := Suppress(n); ok {
		p.Count = &v
	} else {
		p.Extension = []extension{{URL: extDataAbsentReason, ValueCode: "masked"}, {URL: ExtensionSuppressed, ValueString: "<5"}}
	}
	return p
}

func (r *Reports) measureReport(m map[string]any, in request, t *tally) measureReport {
	url, _ := m["url"].(string)
	out := measureReport{
		ResourceType: "MeasureReport", Status: "complete", Type: "summary", Measure: url,
		Date:   resource.FormatInstant(r.cfg.Now().UTC().Truncate(time.Second)),
		Period: periodJSON{Start: in.start, End: in.end},
	}
	switch {
	case in.org != "":
		out.Subject = &reference{Reference: "Organization/" + in.org}
	case in.ods != "":
		out.Subject = &reference{Reference: odsSubject + in.ods}
	}
	for _, g := range measureDefs[in.measure] {
		rg := reportGroup{ID: g.id, Code: codeText{Text: g.id}}
		for _, p := range g.populations {
			rg.Population = append(rg.Population, pop(p, t.total[[2]string{g.id, p}]))
		}
		if len(g.populations) == 2 {
			den, num := t.total[[2]string{g.id, g.populations[0]}], t.total[[2]string{g.id, g.populations[1]}]
			rd, dok := Suppress(den)
			rn, nok := Suppress(num)
			unit := cmp.Or(g.unit, "%")
			of, ofOK := den, dok
			if g.ofNumerator {
				of, ofOK = num, nok
			}
			switch {
			case g.median && ofOK && of > 0:
				rg.MeasureScore = &quantity{Value: percent(median(t.scores[g.id])), Unit: unit, System: "http://unitsofmeasure.org", Code: unit}
			case !g.median && dok && nok && rd > 0:
				rg.MeasureScore = &quantity{Value: percent(float64(rn) * 100 / float64(rd)), Unit: "%", System: "http://unitsofmeasure.org", Code: "%"}
			}
		}
		for _, s := range append(slices.Clone(stratifiers), g.extra...) {
			values := map[string]bool{}
			for k := range t.strata {
				if k[0] == g.id && k[2] == s {
					values[k[3]] = true
				}
			}
			st := stratifier{Code: []codeText{{Text: s}}, Stratum: []stratum{}}
			for _, v := range slices.Sorted(func(yield func(string) bool) {
				for v := range values {
					if !yield(v) {
						return
					}
				}
			}) {
				sm := stratum{Value: codeText{Text: v}}
				for _, p := range g.populations {
					sm.Population = append(sm.Population, pop(p, t.strata[[4]string{g.id, p, s, v}]))
				}
				st.Stratum = append(st.Stratum, sm)
			}
			rg.Stratifier = append(rg.Stratifier, st)
		}
		out.Group = append(out.Group, rg)
	}
	return out
}
