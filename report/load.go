package report

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

// data is what an evaluation reads, reduced to what the measures use.
type data struct {
	patients  map[string]*patient
	plans     []*plan
	approvals map[string][]time.Time // plan id → approval times, sorted
	// approved are each plan's approvals with the version they approved,
	// sorted by time.
	approved map[string][]approval
	// inForceSections is, for the quality measure, the sections of the version of
	// each plan approved last by the period's end (see approvedSections).
	inForceSections map[string][]resource.Reference
	obs             map[string]*fact  // Observation id → its facts
	groups          map[string]*fact  // Condition id → its facts
	places          map[string]*place // patient id → actual place of death
	// submissions are the patient-started plans' submissions.
	submissions []*submission
	planByID    map[string]*plan
}

// submission is one patient's answers sent to their practice: when (the
// Task's authoredOn, else the answers' authored) and the plan made from
// them once the Task is completed ("" before).
type submission struct {
	patient string
	at      time.Time
	plan    string
}

type patient struct {
	id, ods string
	birth   time.Time
	died    time.Time
}

// approval is a plan's approval: when, and which version (0 when the
// Provenance names none).
type approval struct {
	at      time.Time
	version int64
}

type plan struct {
	version             int64 // the current version
	id, patient, status string
	end, review         time.Time
	supporting          []resource.Reference
	mainCondition       string
}

type place struct {
	code     string
	achieved *bool
	at       time.Time
}

type ref struct {
	Reference string `json:"reference"`
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type concept struct {
	Coding []coding `json:"coding"`
}

func (c concept) has(system, code string) bool {
	return slices.ContainsFunc(c.Coding, func(x coding) bool { return x.System == system && x.Code == code })
}

// The facts the measures use, one record per resource, kept current by
// facts.sync. A decoder returns nil for a resource the measures do not use
// (a plan that is not an urgent care plan, a Provenance that is not an
// approval), which drops an earlier version's record.
type (
	patientFacts struct {
		birth, died time.Time
		gps         []string // local Organization ids of Patient.generalPractitioner, in order
	}
	provenanceFacts struct {
		at    time.Time
		plans []resource.Reference // the CarePlan versions approved
	}
	answersFacts struct {
		patient  string
		authored time.Time
	}
	taskFacts struct {
		answers    string // QuestionnaireResponse id in Task.focus
		authoredOn time.Time
		plan       string // CarePlan id of the output, when completed
	}
	observationFacts struct {
		section string // a plan section, or "" for an actual place of death
		subject string // Patient id
		place   place
	}
	// record is one resource's facts: exactly one field is set.
	record struct {
		ods         string // Organization
		patient     *patientFacts
		plan        *plan
		approval    *provenanceFacts
		group       string // Condition
		observation *observationFacts
		answers     *answersFacts // QuestionnaireResponse
		task        *taskFacts
	}
	// fact is a record with the version it was taken from and the order it
	// was first seen in (the store's order on a full read, then the order
	// of arrival), which keeps evaluations deterministic where a patient
	// has more than one plan.
	fact struct {
		id      string
		version int64
		seq     int64
		record
	}
)

// loadTypes are the types an evaluation reads, with the search that narrows
// a full read to what the measures use.
var loadTypes = []struct{ typ, query string }{
	{"Organization", ""},
	{"Patient", ""},
	{"CarePlan", ""},
	{"Provenance", ""},
	{"Condition", ""},
	{"Observation", "code=" + url.QueryEscape(strings.Join([]string{
		profiles.SystemSNOMED + "|" + profiles.CodeResuscitationStatus,
		profiles.SystemSNOMED + "|" + profiles.CodeTreatmentEscalation,
		profiles.SystemUCP + "|" + profiles.CodePreferredPlaceOfCare,
		profiles.SystemUCP + "|" + profiles.CodePreferredPlaceOfDeath,
		profiles.SystemUCP + "|" + profiles.CodeActualPlaceOfDeath,
	}, ","))},
	{"QuestionnaireResponse", "status=completed"},
	{"Task", "code=" + url.QueryEscape(systemPatientPlanAction+"|"+codeReviewSubmission)},
}

// The Task package patientplan writes for a submission (its ActionSystem
// and ActionReviewSubmission; report does not import it).
const (
	systemPatientPlanAction = profiles.CodeSystemBaseURL + "patient-plan-action"
	codeReviewSubmission    = "review-submission"
)

// facts holds the records of the whole register between evaluations.
//
// Reading the register for every evaluation costs time linear in its size
// (about 0.3 ms of CPU a patient), far from the seconds a report should
// take at 100,000 patients. So the first evaluation reads every resource the
// measures use, through the service, and later ones read only the versions
// written since the last read began, less an overlap: the type histories
// with _since, which also show deletions. The overlap covers a write stamped
// (meta.lastUpdated, as the service prepares it) before a read began but
// committed after it, and the clocks of other nodes on the same store: the
// service commits straight after it stamps, and a lost race prepares again
// with a new stamp. Applying a version twice does nothing, as a record is
// replaced only by a newer version. Now and then (Reports.Run, every
// Config.Refresh) the register is read whole again, so that anything
// missed cannot last; that read holds no lock while it reads, so that
// evaluations meanwhile answer from the kept records and the changes.
type facts struct {
	mu     sync.Mutex
	now    func() time.Time
	synced time.Time // when the last read (full or since) began
	seq    int64
	byType map[string]map[string]*fact // type → id → fact
	// sections holds the supporting references of earlier plan versions
	// read for past periods, by "id/version": a version never changes.
	sections map[string][]resource.Reference
}

// overlap is how far before the last read began a read of changes starts.
const overlap = time.Minute

func newFacts(now func() time.Time) *facts {
	return &facts{now: now}
}

// sync brings the records up to date and hands them to fn, under the lock
// (evaluations are serialised with their reads; each takes milliseconds
// once the records are current). Only when nothing has been read yet does
// it read the register whole.
func (f *facts) sync(ctx context.Context, svc Reader, fn func(map[string]map[string]*fact) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byType == nil {
		byType, seq, start, err := f.readAll(ctx, svc)
		if err != nil {
			return err
		}
		f.byType, f.seq, f.synced = byType, seq, start
		return fn(f.byType)
	}
	start := f.now()
	since := f.synced.Add(-overlap)
	for _, lt := range loadTypes {
		if err := f.apply(ctx, svc, lt.typ, since); err != nil {
			return err
		}
	}
	f.synced = start
	return fn(f.byType)
}

// reread reads the register whole without the lock, then puts the new
// records in place of the kept ones. The writes made while it read are
// applied again by the next read of changes, which begins an overlap
// before this read began.
func (f *facts) reread(ctx context.Context, svc Reader) error {
	byType, seq, start, err := f.readAll(ctx, svc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byType, f.seq, f.synced = byType, seq, start
	return nil
}

// readAll reads every resource the measures use, returning the records,
// the last sequence number given and when the read began.
func (f *facts) readAll(ctx context.Context, svc Reader) (map[string]map[string]*fact, int64, time.Time, error) {
	start := f.now()
	byType := map[string]map[string]*fact{}
	var seq int64
	for _, lt := range loadTypes {
		m := map[string]*fact{}
		err := each(ctx, svc, lt.typ, lt.query, func(v *store.Version) error {
			rec, err := decode(v.Type, v.JSON)
			if err != nil || rec == nil {
				return err
			}
			seq++
			if rec.plan != nil {
				rec.plan.version = v.VersionID
			}
			m[v.ID] = &fact{id: v.ID, version: v.VersionID, seq: seq, record: *rec}
			return nil
		})
		if err != nil {
			return nil, 0, time.Time{}, err
		}
		byType[lt.typ] = m
	}
	return byType, seq, start, nil
}

// apply reads the history of typ since the given time and applies the newest
// version of each resource that is newer than its record.
func (f *facts) apply(ctx context.Context, svc Reader, typ string, since time.Time) error {
	m := f.byType[typ]
	seen := map[string]bool{} // a history page is newest first
	cursor := ""
	for {
		res, err := svc.History(ctx, service.HistoryRequest{Type: typ, Since: since, Count: 1000, Cursor: cursor})
		if err != nil {
			return err
		}
		for i := range res.Versions {
			v := &res.Versions[i]
			if seen[v.ID] {
				continue
			}
			seen[v.ID] = true
			old := m[v.ID]
			if old != nil && old.version >= v.VersionID {
				continue
			}
			var rec *record
			if !v.Deleted {
				if rec, err = decode(typ, v.JSON); err != nil {
					return fmt.Errorf("report: %s/%s: %w", typ, v.ID, err)
				}
				if rec != nil && rec.plan != nil {
					rec.plan.version = v.VersionID
				}
			}
			switch {
			case rec == nil:
				delete(m, v.ID)
			case old != nil:
				old.version, old.record = v.VersionID, *rec
			default:
				f.seq++
				m[v.ID] = &fact{id: v.ID, version: v.VersionID, seq: f.seq, record: *rec}
			}
		}
		if res.Next == "" {
			return nil
		}
		cursor = res.Next
	}
}

// each runs fn on every version of typ matching query that the reading
// principal may see, a page at a time.
func each(ctx context.Context, svc Reader, typ, query string, fn func(v *store.Version) error) error {
	params, err := url.ParseQuery(query)
	if err != nil {
		return err
	}
	params.Set("_count", "1000")
	params.Set("_total", "none") // counting every page would read the register again
	cursor := ""
	for {
		res, err := svc.Search(ctx, service.SearchRequest{Type: typ, Params: params, Query: params.Encode(), Cursor: cursor})
		if err != nil {
			return err
		}
		for i := range res.Matches {
			if err := fn(&res.Matches[i]); err != nil {
				return fmt.Errorf("report: %s/%s: %w", typ, res.Matches[i].ID, err)
			}
		}
		if res.Next == "" {
			return nil
		}
		cursor = res.Next
	}
}

// decode reduces one version of typ to the record the measures use, nil
// when they use none of it.
func decode(typ string, raw []byte) (*record, error) {
	switch typ {
	case "Organization":
		var o struct {
			Identifier []struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		ods := ""
		for _, id := range o.Identifier {
			if id.System == profiles.SystemODSCode {
				ods = id.Value
			}
		}
		if ods == "" {
			return nil, nil
		}
		return &record{ods: ods}, nil
	case "Patient":
		var p struct {
			BirthDate string `json:"birthDate"`
			Deceased  string `json:"deceasedDateTime"`
			GP        []ref  `json:"generalPractitioner"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		pf := &patientFacts{}
		for _, g := range p.GP {
			if r := resource.ParseReference(g.Reference); r.Type == "Organization" && r.IsLocal() {
				pf.gps = append(pf.gps, r.ID)
			}
		}
		pf.birth, _ = parseDay(p.BirthDate)
		pf.died, _ = parseTime(p.Deceased)
		return &record{patient: pf}, nil
	case "CarePlan":
		return decodePlan(raw)
	case "Provenance":
		var p struct {
			Target   []ref   `json:"target"`
			Recorded string  `json:"recorded"`
			Activity concept `json:"activity"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		if !p.Activity.has(systemDocumentCompletion, "LA") {
			return nil, nil
		}
		at, err := parseTime(p.Recorded)
		if err != nil {
			return nil, nil // an approval record without a usable time counts for nothing
		}
		pf := &provenanceFacts{at: at}
		for _, t := range p.Target {
			if r := resource.ParseReference(t.Reference); r.Type == "CarePlan" && r.IsLocal() {
				pf.plans = append(pf.plans, r)
			}
		}
		return &record{approval: pf}, nil
	case "Condition":
		var c struct {
			Code concept `json:"code"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
		return &record{group: conditionGroup(c.Code)}, nil
	case "Observation":
		return decodeObservation(raw)
	case "QuestionnaireResponse":
		var q struct {
			Questionnaire string `json:"questionnaire"`
			Status        string `json:"status"`
			Subject       ref    `json:"subject"`
			Authored      string `json:"authored"`
		}
		if err := json.Unmarshal(raw, &q); err != nil {
			return nil, err
		}
		subj := resource.ParseReference(q.Subject.Reference)
		if strings.SplitN(q.Questionnaire, "|", 2)[0] != profiles.QuestionnairePatientPlan || q.Status != "completed" || subj.Type != "Patient" {
			return nil, nil
		}
		at, _ := parseTime(q.Authored)
		return &record{answers: &answersFacts{patient: subj.ID, authored: at}}, nil
	case "Task":
		var t struct {
			Status     string  `json:"status"`
			Code       concept `json:"code"`
			Focus      ref     `json:"focus"`
			AuthoredOn string  `json:"authoredOn"`
			Output     []struct {
				ValueReference *ref `json:"valueReference"`
			} `json:"output"`
		}
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, err
		}
		focus := resource.ParseReference(t.Focus.Reference)
		if !t.Code.has(systemPatientPlanAction, codeReviewSubmission) || focus.Type != "QuestionnaireResponse" {
			return nil, nil
		}
		tf := &taskFacts{answers: focus.ID}
		tf.authoredOn, _ = parseTime(t.AuthoredOn)
		if t.Status == "completed" {
			for _, o := range t.Output {
				if o.ValueReference == nil {
					continue
				}
				if r := resource.ParseReference(o.ValueReference.Reference); r.Type == "CarePlan" && r.IsLocal() {
					tf.plan = r.ID
					break
				}
			}
		}
		return &record{task: tf}, nil
	}
	return nil, fmt.Errorf("no facts of a %s", typ)
}

func decodePlan(raw []byte) (*record, error) {
	var c struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Meta   struct {
			Profile []string `json:"profile"`
		} `json:"meta"`
		Category  []concept            `json:"category"`
		Subject   ref                  `json:"subject"`
		Period    struct{ End string } `json:"period"`
		Extension []struct {
			URL       string `json:"url"`
			ValueDate string `json:"valueDate"`
		} `json:"extension"`
		SupportingInfo []ref `json:"supportingInfo"`
		Addresses      []ref `json:"addresses"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	urgent := slices.ContainsFunc(c.Meta.Profile, func(p string) bool { return strings.HasPrefix(p, profiles.ProfileCarePlan) }) ||
		slices.ContainsFunc(c.Category, func(cc concept) bool {
			return cc.has(profiles.SystemSNOMED, profiles.CodeEndOfLifeCarePlan) || cc.has(profiles.SystemSNOMED, profiles.CodeAdvanceCarePlan)
		})
	subj := resource.ParseReference(c.Subject.Reference)
	if !urgent || subj.Type != "Patient" {
		return nil, nil
	}
	pl := &plan{id: c.ID, patient: subj.ID, status: c.Status}
	pl.end, _ = parseTime(c.Period.End)
	for _, x := range c.Extension {
		if x.URL == profiles.ExtensionReviewDate {
			pl.review, _ = parseDay(x.ValueDate)
		}
	}
	for _, s := range c.SupportingInfo {
		pl.supporting = append(pl.supporting, resource.ParseReference(s.Reference))
	}
	if len(c.Addresses) > 0 {
		if r := resource.ParseReference(c.Addresses[0].Reference); r.Type == "Condition" {
			pl.mainCondition = r.ID
		}
	}
	return &record{plan: pl}, nil
}

func decodeObservation(raw []byte) (*record, error) {
	var o struct {
		Status    string  `json:"status"`
		Code      concept `json:"code"`
		Subject   ref     `json:"subject"`
		Effective string  `json:"effectiveDateTime"`
		Value     concept `json:"valueCodeableConcept"`
		Component []struct {
			Code         concept `json:"code"`
			ValueBoolean *bool   `json:"valueBoolean"`
		} `json:"component"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	if o.Status == "entered-in-error" || o.Status == "cancelled" {
		return nil, nil
	}
	of := &observationFacts{}
	switch {
	case o.Code.has(profiles.SystemSNOMED, profiles.CodeResuscitationStatus):
		of.section = sectionCPR
	case o.Code.has(profiles.SystemSNOMED, profiles.CodeTreatmentEscalation):
		of.section = sectionCeiling
	case o.Code.has(profiles.SystemUCP, profiles.CodePreferredPlaceOfCare):
		of.section = sectionPlaceOfCare
	case o.Code.has(profiles.SystemUCP, profiles.CodePreferredPlaceOfDeath):
		of.section = sectionPlaceOfDeath
	case o.Code.has(profiles.SystemUCP, profiles.CodeActualPlaceOfDeath):
		of.subject = resource.ParseReference(o.Subject.Reference).ID
		of.place.at, _ = parseTime(o.Effective)
		for _, c := range o.Value.Coding {
			if c.System == profiles.SystemDeathLocationType {
				of.place.code = c.Code
			}
		}
		for _, c := range o.Component {
			if c.Code.has(profiles.SystemUCP, profiles.CodePreferredPlaceAchieved) {
				of.place.achieved = c.ValueBoolean
			}
		}
	default:
		return nil, nil
	}
	return &record{observation: of}, nil
}

// sorted returns m's facts in the order they were first seen.
func sorted(m map[string]*fact) []*fact {
	return slices.SortedFunc(maps.Values(m), func(a, b *fact) int { return cmp.Compare(a.seq, b.seq) })
}

// approvedSections fills d.inForceSections for period p: for each plan, the
// sections of the version approved last by the period's end, which is what
// was in force then; a later version (a review that added a section) does
// not count for an earlier period. The current version's are at hand; an
// earlier one is read once (vread) and kept, as a version never changes.
// Called under f's lock (from sync's fn).
func (f *facts) approvedSections(ctx context.Context, svc Reader, d *data, p period) error {
	d.inForceSections = map[string][]resource.Reference{}
	for _, pl := range d.plans {
		var v int64
		for _, a := range d.approved[pl.id] {
			if a.at.Before(p.to) {
				v = a.version
			}
		}
		if v == 0 || v == pl.version {
			continue // the current version, or an approval naming none
		}
		key := pl.id + "/" + strconv.FormatInt(v, 10)
		refs, ok := f.sections[key]
		if !ok {
			ver, err := svc.VRead(ctx, "CarePlan", pl.id, v)
			if outcome.KindOf(err) == outcome.NotFound || outcome.KindOf(err) == outcome.Gone {
				continue // nothing older to go by: the current version's
			}
			if err != nil {
				return err
			}
			rec, err := decodePlan(ver.JSON)
			if err != nil {
				return fmt.Errorf("report: CarePlan/%s/_history/%d: %w", pl.id, v, err)
			}
			if rec != nil {
				refs = rec.plan.supporting
			}
			if f.sections == nil {
				f.sections = map[string][]resource.Reference{}
			}
			f.sections[key] = refs
		}
		d.inForceSections[pl.id] = refs
	}
	return nil
}

// derive builds an evaluation's data from the records. keep, when not nil,
// keeps only the patients of the GP practices (Organization ids) it keeps.
func derive(byType map[string]map[string]*fact, keep func(org string) bool) *data {
	d := &data{patients: map[string]*patient{}, approvals: map[string][]time.Time{}, approved: map[string][]approval{},
		obs: byType["Observation"], groups: byType["Condition"], places: map[string]*place{}}
	odsOf := func(id string) string {
		if o := byType["Organization"][id]; o != nil {
			return o.ods
		}
		return "unknown"
	}
	for id, f := range byType["Patient"] {
		pf := f.patient
		pt := &patient{id: id, birth: pf.birth, died: pf.died}
		switch {
		case keep != nil:
			i := slices.IndexFunc(pf.gps, keep)
			if i < 0 {
				continue // another practice's patient
			}
			pt.ods = odsOf(pf.gps[i])
		case len(pf.gps) > 0:
			pt.ods = odsOf(pf.gps[len(pf.gps)-1])
		default:
			pt.ods = "unknown"
		}
		d.patients[id] = pt
	}
	for _, f := range sorted(byType["CarePlan"]) {
		if d.patients[f.plan.patient] != nil {
			d.plans = append(d.plans, f.plan)
		}
	}
	for _, f := range sorted(byType["Provenance"]) {
		for _, r := range f.approval.plans {
			d.approvals[r.ID] = append(d.approvals[r.ID], f.approval.at)
			v, _ := strconv.ParseInt(r.Version, 10, 64)
			d.approved[r.ID] = append(d.approved[r.ID], approval{at: f.approval.at, version: v})
		}
	}
	for _, ts := range d.approvals {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	}
	for _, as := range d.approved {
		slices.SortStableFunc(as, func(a, b approval) int { return a.at.Compare(b.at) })
	}
	d.planByID = map[string]*plan{}
	for _, pl := range d.plans {
		d.planByID[pl.id] = pl
	}
	tasks := map[string]*taskFacts{} // answers id → its Task, the first seen
	for _, f := range sorted(byType["Task"]) {
		if tasks[f.task.answers] == nil {
			tasks[f.task.answers] = f.task
		}
	}
	for _, f := range sorted(byType["QuestionnaireResponse"]) {
		if d.patients[f.answers.patient] == nil {
			continue
		}
		s := &submission{patient: f.answers.patient, at: f.answers.authored}
		if t := tasks[f.id]; t != nil {
			if !t.authoredOn.IsZero() {
				s.at = t.authoredOn
			}
			s.plan = t.plan
		}
		d.submissions = append(d.submissions, s)
	}
	// A patient's place of death is the latest recorded; of two at the same
	// time, the first seen.
	seq := map[string]int64{}
	for _, f := range byType["Observation"] {
		of := f.observation
		if of.section != "" {
			continue
		}
		prev := d.places[of.subject]
		if prev == nil || of.place.at.After(prev.at) || of.place.at.Equal(prev.at) && f.seq < seq[of.subject] {
			pl := of.place
			d.places[of.subject], seq[of.subject] = &pl, f.seq
		}
	}
	return d
}

// section is the plan section Observation id records, "" when none.
func (d *data) section(id string) string {
	if f := d.obs[id]; f != nil {
		return f.observation.section
	}
	return ""
}

// group is the condition group of Condition id.
func (d *data) group(id string) string {
	if f := d.groups[id]; f != nil {
		return f.group
	}
	return "other"
}

const systemDocumentCompletion = "http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion"

// conditionGroups maps main conditions (SNOMED CT) to the groups the
// measures are stratified by; any other condition is "other".
var conditionGroups = map[string]string{
	// Cancer.
	"363358000": "cancer", "254837009": "cancer", "363406005": "cancer", "399068003": "cancer",
	"363418001": "cancer", "363349007": "cancer", "363443007": "cancer", "363346000": "cancer",
	// Organ failure: heart, lung, kidney, liver.
	"84114007": "organ-failure", "13645005": "organ-failure", "433146000": "organ-failure",
	"700250006": "organ-failure", "19943007": "organ-failure",
	// Dementia and frailty.
	"52448006": "dementia-frailty", "26929004": "dementia-frailty", "248279007": "dementia-frailty",
	// Neurological.
	"37340000": "neurological", "49049000": "neurological", "230690007": "neurological",
}

func conditionGroup(c concept) string {
	for _, x := range c.Coding {
		if x.System == profiles.SystemSNOMED {
			if g, ok := conditionGroups[x.Code]; ok {
				return g
			}
		}
	}
	return "other"
}

// parseDay parses a FHIR date with a day (YYYY-MM-DD, or the day of a
// dateTime).
func parseDay(s string) (time.Time, error) {
	if len(s) < len("2006-01-02") {
		return time.Time{}, fmt.Errorf("%q is not a day", s)
	}
	return time.Parse("2006-01-02", s[:10])
}

// parseTime parses a FHIR dateTime or instant; a day alone is its start
// (UTC).
func parseTime(s string) (time.Time, error) {
	if len(s) == len("2006-01-02") {
		return time.Parse("2006-01-02", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// percent formats a score to one decimal place.
func percent(x float64) json.Number {
	return json.Number(strconv.FormatFloat(float64(int64(x*10+0.5))/10, 'f', 1, 64))
}
