package report

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
)

// data is what an evaluation reads, reduced to what the measures use.
type data struct {
	patients  map[string]*patient
	plans     []*plan
	approvals map[string][]time.Time // plan id → approval times, sorted
	obsKind   map[string]string      // Observation id → section
	groups    map[string]string      // Condition id → condition group
	places    map[string]*place      // patient id → actual place of death
}

type patient struct {
	id, ods string
	birth   time.Time
	died    time.Time
}

type plan struct {
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

// each runs fn on every version of typ matching query that the reading
// principal may see, a page at a time.
func each(ctx context.Context, svc Reader, typ, query string, fn func(raw []byte) error) error {
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
			if err := fn(res.Matches[i].JSON); err != nil {
				return fmt.Errorf("report: %s/%s: %w", typ, res.Matches[i].ID, err)
			}
		}
		if res.Next == "" {
			return nil
		}
		cursor = res.Next
	}
}

// load reads what the measures need. org, when not "", keeps only the
// patients of that GP practice (Organization id).
func load(ctx context.Context, svc Reader, org string) (*data, error) {
	d := &data{patients: map[string]*patient{}, approvals: map[string][]time.Time{}, obsKind: map[string]string{},
		groups: map[string]string{}, places: map[string]*place{}}
	ods := map[string]string{}
	err := each(ctx, svc, "Organization", "", func(raw []byte) error {
		var o struct {
			ID         string `json:"id"`
			Identifier []struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		for _, id := range o.Identifier {
			if id.System == profiles.SystemODSCode {
				ods[o.ID] = id.Value
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, svc, "Patient", "", func(raw []byte) error {
		var p struct {
			ID        string `json:"id"`
			BirthDate string `json:"birthDate"`
			Deceased  string `json:"deceasedDateTime"`
			GP        []ref  `json:"generalPractitioner"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		pt := &patient{id: p.ID}
		for _, g := range p.GP {
			if r := resource.ParseReference(g.Reference); r.Type == "Organization" && r.IsLocal() {
				if org != "" && r.ID != org {
					continue
				}
				pt.ods = ods[r.ID]
				if pt.ods == "" {
					pt.ods = "unknown"
				}
			}
		}
		if org != "" && pt.ods == "" {
			return nil // another practice's patient
		}
		if pt.ods == "" {
			pt.ods = "unknown"
		}
		pt.birth, _ = parseDay(p.BirthDate)
		pt.died, _ = parseTime(p.Deceased)
		d.patients[p.ID] = pt
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, svc, "CarePlan", "", func(raw []byte) error {
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
			return err
		}
		urgent := slices.ContainsFunc(c.Meta.Profile, func(p string) bool { return strings.HasPrefix(p, profiles.ProfileCarePlan) }) ||
			slices.ContainsFunc(c.Category, func(cc concept) bool {
				return cc.has(profiles.SystemSNOMED, profiles.CodeEndOfLifeCarePlan) || cc.has(profiles.SystemSNOMED, profiles.CodeAdvanceCarePlan)
			})
		subj := resource.ParseReference(c.Subject.Reference)
		if !urgent || subj.Type != "Patient" || d.patients[subj.ID] == nil {
			return nil
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
		d.plans = append(d.plans, pl)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, svc, "Provenance", "", func(raw []byte) error {
		var p struct {
			Target   []ref   `json:"target"`
			Recorded string  `json:"recorded"`
			Activity concept `json:"activity"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		if !p.Activity.has(systemDocumentCompletion, "LA") {
			return nil
		}
		at, err := parseTime(p.Recorded)
		if err != nil {
			return nil // an approval record without a usable time counts for nothing
		}
		for _, t := range p.Target {
			if r := resource.ParseReference(t.Reference); r.Type == "CarePlan" && r.IsLocal() {
				d.approvals[r.ID] = append(d.approvals[r.ID], at)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, ts := range d.approvals {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	}
	err = each(ctx, svc, "Condition", "", func(raw []byte) error {
		var c struct {
			ID   string  `json:"id"`
			Code concept `json:"code"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return err
		}
		d.groups[c.ID] = conditionGroup(c.Code)
		return nil
	})
	if err != nil {
		return nil, err
	}
	codes := strings.Join([]string{
		profiles.SystemSNOMED + "|" + profiles.CodeResuscitationStatus,
		profiles.SystemSNOMED + "|" + profiles.CodeTreatmentEscalation,
		profiles.SystemUCP + "|" + profiles.CodePreferredPlaceOfCare,
		profiles.SystemUCP + "|" + profiles.CodePreferredPlaceOfDeath,
		profiles.SystemUCP + "|" + profiles.CodeActualPlaceOfDeath,
	}, ",")
	err = each(ctx, svc, "Observation", "code="+url.QueryEscape(codes), func(raw []byte) error {
		var o struct {
			ID        string  `json:"id"`
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
			return err
		}
		if o.Status == "entered-in-error" || o.Status == "cancelled" {
			return nil
		}
		switch {
		case o.Code.has(profiles.SystemSNOMED, profiles.CodeResuscitationStatus):
			d.obsKind[o.ID] = sectionCPR
		case o.Code.has(profiles.SystemSNOMED, profiles.CodeTreatmentEscalation):
			d.obsKind[o.ID] = sectionCeiling
		case o.Code.has(profiles.SystemUCP, profiles.CodePreferredPlaceOfCare):
			d.obsKind[o.ID] = sectionPlaceOfCare
		case o.Code.has(profiles.SystemUCP, profiles.CodePreferredPlaceOfDeath):
			d.obsKind[o.ID] = sectionPlaceOfDeath
		case o.Code.has(profiles.SystemUCP, profiles.CodeActualPlaceOfDeath):
			subj := resource.ParseReference(o.Subject.Reference)
			at, _ := parseTime(o.Effective)
			pl := &place{at: at}
			for _, c := range o.Value.Coding {
				if c.System == profiles.SystemDeathLocationType {
					pl.code = c.Code
				}
			}
			for _, c := range o.Component {
				if c.Code.has(profiles.SystemUCP, profiles.CodePreferredPlaceAchieved) {
					pl.achieved = c.ValueBoolean
				}
			}
			if prev := d.places[subj.ID]; prev == nil || pl.at.After(prev.at) {
				d.places[subj.ID] = pl
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
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
