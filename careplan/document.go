package careplan

import (
	"bytes"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

// parseVersion parses a stored version's JSON.
func parseVersion(v *store.Version) (map[string]any, error) {
	res, err := resource.Parse(v.JSON)
	if err != nil {
		return nil, fmt.Errorf("careplan: parsing stored %s/%s: %w", v.Type, v.ID, err)
	}
	return res, nil
}

// versionRef is "Type/id/_history/v".
func versionRef(v *store.Version) string {
	return v.Type + "/" + v.ID + "/_history/" + strconv.FormatInt(v.VersionID, 10)
}

// approve builds the Provenance and the Composition written with an
// approval of op's plan, for the write pipeline to create with it.
func (p *Plans) approve(op *service.WriteOp, plan map[string]any, patient string, secs *sections, cs consent, who approver) ([]map[string]any, error) {
	now := p.cfg.Now().UTC().Truncate(time.Microsecond)
	planRef := "CarePlan/" + op.ID + "/_history/" + strconv.FormatInt(op.Version, 10)
	comp := p.composition(plan, planRef, patient, secs, cs, who, now)
	prov := provenance{
		ResourceType: "Provenance",
		Meta:         meta{Profile: []string{profiles.ProfileUKCoreProvenance}},
		Target:       []reference{{Reference: planRef}, {Reference: "Composition/" + comp.ID + "/_history/1"}},
		Recorded:     resource.FormatInstant(now),
		Activity: concept{Coding: []coding{{
			System: "http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion", Code: "LA", Display: "legally authenticated"}},
			Text: "Plan approved"},
		Agent: []provAgent{{
			Type: concept{Coding: []coding{{
				System: "http://terminology.hl7.org/CodeSystem/provenance-participant-type", Code: "attester", Display: "Attester"}}},
			Who: who.who,
		}},
		Reason: []concept{{Text: "Clinical approval of the urgent care plan"}},
	}
	return []map[string]any{tree(comp), tree(prov)}, nil
}

// narrativeTmpl renders a section's XHTML narrative. html/template escapes
// every value, so text from clients can never inject markup into the
// document an urgent-care system displays.
var narrativeTmpl = template.Must(template.New("n").Parse(
	`<div xmlns="http://www.w3.org/1999/xhtml"><p><b>{{.Title}}</b></p>{{if .Items}}<ul>{{range .Items}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>None recorded.</p>{{end}}</div>`))

func narrative(title string, items []string) narrativeT {
	var b bytes.Buffer
	if err := narrativeTmpl.Execute(&b, struct {
		Title string
		Items []string
	}{title, items}); err != nil {
		panic(err) // the template and its data are ours: a failure is a bug
	}
	return narrativeT{Status: "generated", Div: b.String()}
}

// composition builds the plan's document Composition: one section per kind
// of referenced resource, each with a narrative summary and versioned
// entries, so that the document shows exactly what was approved.
func (p *Plans) composition(plan map[string]any, planRef, patient string, secs *sections, cs consent, who approver, now time.Time) *composition {
	id := uuid.NewString()
	byKind := map[string][]section{}
	for _, group := range [][]section{secs.addresses, secs.supporting, secs.other} {
		for _, s := range group {
			if live(s.res) {
				k := kindOf(s.res)
				byKind[k] = append(byKind[k], s)
			}
		}
	}
	if cs.ref != "" && len(byKind[kindConsent]) == 0 {
		// The consent that allowed publication belongs in the document even
		// when the plan does not point at it.
		byKind[kindConsent] = append(byKind[kindConsent], section{ref: cs.ref, summary: "Consent to share: recorded (" + cs.ref + ")"})
	}
	var sectionsOut []docSection
	// The plan itself first: what to do if the patient deteriorates.
	var planItems []string
	if t := resource.Str(plan, "title"); t != "" {
		planItems = append(planItems, "Plan: "+t)
	}
	if t := resource.Str(plan, "description"); t != "" {
		planItems = append(planItems, t)
	}
	for _, a := range resource.List(plan["activity"]) {
		am, _ := a.(map[string]any)
		if d := resource.Str(resource.Obj(am, "detail"), "description"); d != "" {
			planItems = append(planItems, "If the patient deteriorates: "+d)
		}
	}
	sectionsOut = append(sectionsOut, docSection{
		Title: "Urgent care plan", Text: narrative("Urgent care plan", planItems),
		Entry: []reference{{Reference: planRef}},
	})
	for _, k := range kindOrder {
		ss := byKind[k]
		if len(ss) == 0 {
			continue
		}
		var items []string
		var entries []reference
		for _, s := range ss {
			if s.v != nil {
				items = append(items, summarise(s.res))
				entries = append(entries, reference{Reference: versionRef(s.v)})
			} else {
				items = append(items, s.summary)
				entries = append(entries, reference{Reference: s.ref})
			}
		}
		sectionsOut = append(sectionsOut, docSection{Title: k, Text: narrative(k, items), Entry: entries})
	}
	var typ any = concept{Coding: []coding{{System: profiles.SystemSNOMED, Code: profiles.CodeEndOfLifeCarePlan, Display: "End of life care plan"}}}
	for _, c := range resource.List(plan["category"]) {
		if resource.HasCoding(c, profiles.SystemSNOMED, profiles.CodeEndOfLifeCarePlan, profiles.CodeAdvanceCarePlan) {
			typ = c
		}
	}
	var author any = who.who
	if !who.known {
		// Composition.author must be a reference to who wrote it; with no
		// known approver the plan's author stands in.
		if a, ok := plan["author"].(map[string]any); ok {
			author = a
		}
	}
	title := resource.Str(plan, "title")
	if title == "" {
		title = "Urgent care plan"
	}
	return &composition{
		ResourceType: "Composition",
		ID:           id,
		Meta:         meta{Profile: []string{profiles.ProfileUKCoreComposition}},
		Identifier:   identifier{System: "urn:ietf:rfc:3986", Value: "urn:uuid:" + id},
		Status:       "final",
		Type:         typ,
		Category:     []concept{{Coding: []coding{{System: profiles.SystemSNOMED, Code: profiles.CodeCarePlanCategory, Display: "Care plan"}}}},
		Subject:      reference{Reference: "Patient/" + patient},
		Date:         resource.FormatInstant(now),
		Author:       []any{author},
		Title:        title,
		Attester:     []attester{attesterOf(who, now)},
		Event:        []event{{Detail: []reference{{Reference: planRef}}}},
		Section:      sectionsOut,
	}
}

// attesterOf is the approval's legal attester. The party is named on every
// approval path, whether the approver has a fhirUser reference, only an SDS
// user id or only a name: the urgent care view, the PDF and the document
// read the approver here, and must name the same person the Provenance
// does.
func attesterOf(who approver, now time.Time) attester {
	party := who.who
	return attester{Mode: "legal", Time: resource.FormatInstant(now), Party: &party}
}

// summarise is a one-line, plain-text summary of a section resource for the
// narrative. It never reuses the resource's own narrative, which is client
// XHTML.
func summarise(res map[string]any) string {
	var parts []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	switch resource.Type(res) {
	case "Condition":
		add(ccText(res["code"]))
		add(ccText(res["clinicalStatus"]))
	case "ClinicalImpression":
		for _, c := range resource.List(res["prognosisCodeableConcept"]) {
			add(ccText(c))
		}
		add(resource.Str(res, "summary"))
		add(dateOnly(resource.Str(res, "date")))
	case "Observation":
		add(ccText(res["code"]))
		add(value(res))
		for _, c := range resource.List(res["component"]) {
			cm, _ := c.(map[string]any)
			if v := value(cm); v != "" {
				add(ccText(cm["code"]) + ": " + v)
			}
		}
		add(dateOnly(resource.Str(res, "effectiveDateTime")))
	case "RelatedPerson":
		add(name(res))
		for _, r := range resource.List(res["relationship"]) {
			add(ccText(r))
		}
		for _, t := range resource.List(res["telecom"]) {
			tm, _ := t.(map[string]any)
			add(resource.Str(tm, "value"))
		}
	case "CareTeam":
		add(resource.Str(res, "name"))
		for _, pt := range resource.List(res["participant"]) {
			pm, _ := pt.(map[string]any)
			add(resource.Str(resource.Obj(pm, "member"), "display"))
		}
	case "Consent":
		for _, c := range resource.List(res["category"]) {
			add(ccText(c))
		}
		add(resource.Str(res, "status"))
		add(dateOnly(resource.Str(res, "dateTime")))
	case "MedicationStatement", "MedicationRequest":
		add(ccText(res["medicationCodeableConcept"]))
		for _, d := range resource.List(res["dosage"]) {
			dm, _ := d.(map[string]any)
			add(resource.Str(dm, "text"))
		}
	case "Flag":
		add(ccText(res["code"]))
	case "DocumentReference":
		add(ccText(res["type"]))
		add(resource.Str(res, "description"))
	case "Goal":
		// A wish the patient expressed is said to be theirs, so that the
		// printed plan and the PDF cannot pass it off as a decision.
		t := ccText(res["description"])
		if strings.HasPrefix(resource.Str(resource.Obj(res, "expressedBy"), "reference"), "Patient/") {
			t = "In the patient's own words: \u201c" + t + "\u201d"
		}
		add(t)
	default:
		add(resource.Type(res))
	}
	if len(parts) == 0 {
		return resource.Type(res) + "/" + resource.ID(res)
	}
	return strings.Join(parts, "; ")
}

// value is a readable value[x] of an Observation or component.
func value(m map[string]any) string {
	for k, v := range m {
		if !strings.HasPrefix(k, "value") {
			continue
		}
		switch v := v.(type) {
		case string:
			return v
		case bool:
			return strconv.FormatBool(v)
		case map[string]any:
			if k == "valueCodeableConcept" {
				return ccText(v)
			}
			if k == "valueQuantity" {
				return fmt.Sprint(v["value"]) + " " + resource.Str(v, "unit")
			}
		default:
			return fmt.Sprint(v)
		}
	}
	return ""
}

func name(res map[string]any) string {
	names := resource.List(res["name"])
	if len(names) == 0 {
		return ""
	}
	// The first name is the one to show, as the patient banner does.
	nm, _ := names[0].(map[string]any)
	if t := resource.Str(nm, "text"); t != "" {
		return t
	}
	var given []string
	for _, g := range resource.List(nm["given"]) {
		if s, ok := g.(string); ok {
			given = append(given, s)
		}
	}
	return strings.TrimSpace(strings.Join(given, " ") + " " + resource.Str(nm, "family"))
}

func dateOnly(s string) string {
	if len(s) >= 10 {
		return s[:10]
	}
	return s
}
