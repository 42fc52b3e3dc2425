package nrl

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Code systems and extensions of NRL pointers (NRL producer specification).
const (
	SystemSNOMED        = "http://snomed.info/sct"
	SystemNHSNumber     = "https://fhir.nhs.uk/Id/nhs-number"
	SystemODS           = "https://fhir.nhs.uk/Id/ods-organization-code"
	SystemASID          = "https://fhir.nhs.uk/Id/nhsSpineASID"
	SystemFormat        = "https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode"
	SystemStability     = "https://fhir.nhs.uk/England/CodeSystem/England-NRLContentStability"
	SystemRetrieval     = "https://fhir.nhs.uk/England/CodeSystem/England-NRLRetrievalMechanism"
	ExtensionStability  = "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-ContentStability"
	ExtensionRetrieval  = "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-NRLRetrievalMechanism"
	SystemURI           = "urn:ietf:rfc:3986"
	FormatUnstructured  = "urn:nhs-ic:unstructured"
	FormatStructured    = "urn:nhs-ic:structured"
	CategoryCarePlan    = "734163000"
	categoryCarePlanTxt = "Care plan"
)

// Record types ucp publishes, with their displays exactly as NRL's code
// system spells them (NRL refuses any other display).
var recordTypes = map[string]string{
	"736373009":        "End of life care plan",
	"736366004":        "Advance care plan",
	"1382601000000107": "ReSPECT (Recommended Summary Plan for Emergency Care and Treatment) form",
}

// RecordTypeDisplay returns the display of a pointer type ucp publishes, ""
// for any other code.
func RecordTypeDisplay(code string) string { return recordTypes[code] }

// PracticeSettingDisplay returns the display of a practice setting ucp
// accepts, "" for any other code.
func PracticeSettingDisplay(code string) string { return practiceSettings[code] }

// practiceSettings are the codes of the England-PracticeSetting value set
// that fit a service publishing urgent care plans, with their displays;
// --nrl-practice-setting must be one of them.
var practiceSettings = map[string]string{
	"310073009":        "Palliative care service",
	"395092004":        "Specialist palliative care",
	"395086005":        "Community specialist palliative care",
	"1148679005":       "Specialist palliative care service",
	"893641000000108":  "Palliative medicine service",
	"444933003":        "Home hospice service",
	"788007007":        "General practice service",
	"907301000000109":  "NHS 111 service",
	"409971007":        "Emergency medical services",
	"829961000000104":  "Out of hours service",
	"1060971000000108": "General practice service",
}

// DefaultPracticeSetting is Palliative care service: what a coordinated
// urgent care plan service is in the England-PracticeSetting value set.
const DefaultPracticeSetting = "310073009"

// Coding, Concept, Identifier and Reference are the FHIR datatypes of a
// pointer, as NRL accepts them (it refuses elements it does not know).
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// Concept is a CodeableConcept.
type Concept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Identifier is a FHIR Identifier.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Reference is a logical reference (by identifier), as NRL uses them.
type Reference struct {
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
}

// Attachment says where a pointer's content is and what it is.
type Attachment struct {
	ContentType string `json:"contentType"`
	URL         string `json:"url"`
	Title       string `json:"title,omitempty"`
	Creation    string `json:"creation,omitempty"`
}

// Extension is a FHIR extension with a CodeableConcept value.
type Extension struct {
	URL                  string   `json:"url"`
	ValueCodeableConcept *Concept `json:"valueCodeableConcept,omitempty"`
}

// Content is one content item of a pointer.
type Content struct {
	Attachment Attachment  `json:"attachment"`
	Format     Coding      `json:"format"`
	Extension  []Extension `json:"extension"`
}

// RelatesTo supersedes an earlier pointer.
type RelatesTo struct {
	Code   string    `json:"code"`
	Target Reference `json:"target"`
}

// Context holds the practice setting and, for SSP retrieval, the ASID.
type Context struct {
	PracticeSetting Concept     `json:"practiceSetting"`
	Related         []Reference `json:"related,omitempty"`
}

// Pointer is an NRL DocumentReference.
type Pointer struct {
	ResourceType     string      `json:"resourceType"`
	ID               string      `json:"id,omitempty"`
	MasterIdentifier *Identifier `json:"masterIdentifier,omitempty"`
	Status           string      `json:"status"`
	DocStatus        string      `json:"docStatus,omitempty"`
	Type             Concept     `json:"type"`
	Category         []Concept   `json:"category"`
	Subject          Reference   `json:"subject"`
	Date             string      `json:"date,omitempty"`
	Author           []Reference `json:"author"`
	Custodian        Reference   `json:"custodian"`
	RelatesTo        []RelatesTo `json:"relatesTo,omitempty"`
	Description      string      `json:"description,omitempty"`
	Content          []Content   `json:"content"`
	Context          Context     `json:"context"`
}

// NHSNumber is the pointer's subject's NHS number.
func (p *Pointer) NHSNumber() string {
	if p.Subject.Identifier == nil {
		return ""
	}
	return p.Subject.Identifier.Value
}

// TypeCode is the pointer's record type code.
func (p *Pointer) TypeCode() string {
	if len(p.Type.Coding) == 0 {
		return ""
	}
	return p.Type.Coding[0].Code
}

// Stability is the code of the first content item's ContentStability, ""
// when it has none.
func (p *Pointer) Stability() string {
	if len(p.Content) == 0 {
		return ""
	}
	for _, e := range p.Content[0].Extension {
		if e.URL == ExtensionStability && e.ValueCodeableConcept != nil && len(e.ValueCodeableConcept.Coding) > 0 {
			return e.ValueCodeableConcept.Coding[0].Code
		}
	}
	return ""
}

// Master is the pointer's masterIdentifier value, "" when it has none.
func (p *Pointer) Master() string {
	if p.MasterIdentifier == nil {
		return ""
	}
	return p.MasterIdentifier.Value
}

// PointerConfig is what a pointer says about its publisher.
type PointerConfig struct {
	// ODS is the publishing organisation's ODS code: author and custodian.
	ODS string
	// PracticeSetting is a code PracticeSettingDisplay knows.
	PracticeSetting string
	// BaseURL is the FHIR base URL consumers fetch the plan's document
	// from.
	BaseURL string
	// ASID is the Spine ASID of the service when consumers retrieve the
	// document through the Spine Secure Proxy; "" for direct retrieval.
	ASID string
	// Stability is StabilityStatic (the default, "") or StabilityDynamic.
	Stability string
	// Structured adds the FHIR document as a second content item
	// (urn:nhs-ic:structured). Off by default: NRL's published producer
	// specification enumerates only unstructured and record-contact
	// formats, so NRL refuses it unless the onboarding agreed structured
	// content.
	Structured bool
}

// Content stabilities (England-NRLContentStability): a static pointer's URL
// names one approved version; a dynamic pointer's URL names the plan and
// always serves its current approved version.
const (
	StabilityStatic  = "static"
	StabilityDynamic = "dynamic"
)

func (c PointerConfig) dynamic() bool { return c.Stability == StabilityDynamic }

var (
	odsPattern  = regexp.MustCompile(`^[A-Za-z0-9]{1,12}$`)
	asidPattern = regexp.MustCompile(`^\d{12}$`)
)

// Check reports a configuration NRL would refuse.
func (c PointerConfig) Check() error {
	if !odsPattern.MatchString(c.ODS) {
		return fmt.Errorf("ODS code %q: want 1 to 12 letters and digits", c.ODS)
	}
	if practiceSettings[c.PracticeSetting] == "" {
		return fmt.Errorf("practice setting %q is not one of the England-PracticeSetting codes ucp knows", c.PracticeSetting)
	}
	if c.ASID != "" && !asidPattern.MatchString(c.ASID) {
		return fmt.Errorf("ASID %q: want 12 digits", c.ASID)
	}
	if c.Stability != "" && c.Stability != StabilityStatic && c.Stability != StabilityDynamic {
		return fmt.Errorf("content stability %q: want static or dynamic", c.Stability)
	}
	if !strings.HasPrefix(c.BaseURL, "https://") && !strings.HasPrefix(c.BaseURL, "http://") {
		return fmt.Errorf("base URL %q: want http(s)://", c.BaseURL)
	}
	return nil
}

// PlanVersion is what a pointer is built from: an approved version of a plan
// and the Composition written with its approval.
type PlanVersion struct {
	PlanID      string
	Version     int64
	NHSNumber   string
	Type        string // record type code (RecordTypeDisplay)
	Composition string // the id of the approval's Composition
	Approved    string // FHIR instant of the approval
}

// MasterFor is the masterIdentifier of the pointer to a plan version: the
// version's absolute URL, which names it uniquely and lets the publisher
// recognise its own pointers (and which plan they point to) on NRL.
func MasterFor(base, planID string, version int64) string {
	return fmt.Sprintf("%s/CarePlan/%s/_history/%d", strings.TrimSuffix(base, "/"), planID, version)
}

// planOfMaster returns the plan prefix of a masterIdentifier made by
// MasterFor: pointers of every version of one plan share it.
func planOfMaster(base, planID string) string {
	return fmt.Sprintf("%s/CarePlan/%s/_history/", strings.TrimSuffix(base, "/"), planID)
}

// PlanOfMaster returns the plan id a masterIdentifier made by MasterFor
// names, "" when it is not one of this service's (another base URL, or not
// a plan version's URL).
func PlanOfMaster(base, master string) string {
	rest, ok := strings.CutPrefix(master, strings.TrimSuffix(base, "/")+"/CarePlan/")
	if !ok {
		return ""
	}
	id, version, ok := strings.Cut(rest, "/_history/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return ""
	}
	if _, err := strconv.ParseInt(version, 10, 64); err != nil {
		return ""
	}
	return id
}

// DocumentPath is the path below the FHIR base of the PDF of the approval
// whose Composition is id: the URL of a static pointer.
func DocumentPath(composition string) string { return "_nrl/pdf/" + composition }

// CurrentPath is the path below the FHIR base of the PDF of a plan's
// current approved version: the URL of a dynamic pointer.
func CurrentPath(plan string) string { return "_nrl/plan/" + plan }

// StructuredPath is the path below the FHIR base of the FHIR document
// (the $document Bundle) of the approval whose Composition is id: the URL
// of a static pointer's structured content item.
func StructuredPath(composition string) string { return "_nrl/fhir/" + composition }

// CurrentStructuredPath is the path below the FHIR base of the FHIR
// document of a plan's current approved version: the URL of a dynamic
// pointer's structured content item.
func CurrentStructuredPath(plan string) string { return "_nrl/plan-fhir/" + plan }

// Content types of a pointer's content items.
const (
	ContentPDF  = "application/pdf"
	ContentFHIR = "application/fhir+json"
)

// Build returns the pointer to an approved plan version, with two content
// items: the PDF rendered from the approval's Composition (unstructured),
// which every NRL consumer can show, and the same approval as a FHIR
// document, the Bundle of Composition/{id}/$document (structured), which a
// consumer system can read into its own record, when cfg.Structured. A static pointer's URLs name the approval; with cfg.Stability
// dynamic they name the plan and serve its current approved version. With
// cfg.ASID the documents are retrieved through the Spine Secure Proxy (ssp://
// URLs and the ASID in context.related), else directly over HTTPS with the
// API's Bearer tokens.
func Build(cfg PointerConfig, pv PlanVersion) *Pointer {
	ods := &Identifier{System: SystemODS, Value: cfg.ODS}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	pdfURL, fhirURL := base+"/"+DocumentPath(pv.Composition), base+"/"+StructuredPath(pv.Composition)
	stability := Coding{System: SystemStability, Code: StabilityStatic, Display: "Static"}
	desc := recordTypes[pv.Type] + ", approved version " + fmt.Sprint(pv.Version)
	if cfg.dynamic() {
		pdfURL, fhirURL = base+"/"+CurrentPath(pv.PlanID), base+"/"+CurrentStructuredPath(pv.PlanID)
		stability = Coding{System: SystemStability, Code: StabilityDynamic, Display: "Dynamic"}
		desc = recordTypes[pv.Type] + ", its current approved version"
	}
	retrieval := Coding{System: SystemRetrieval, Code: "Direct", Display: "Direct"}
	var related []Reference
	if cfg.ASID != "" {
		ssp := func(u string) string { return "ssp://" + u[strings.Index(u, "://")+3:] }
		pdfURL, fhirURL = ssp(pdfURL), ssp(fhirURL)
		retrieval = Coding{System: SystemRetrieval, Code: "SSP", Display: "Spine Secure Proxy"}
		related = []Reference{{Identifier: &Identifier{System: SystemASID, Value: cfg.ASID}}}
	}
	item := func(contentType, u string, format Coding) Content {
		return Content{
			Attachment: Attachment{ContentType: contentType, URL: u, Title: recordTypes[pv.Type], Creation: pv.Approved},
			Format:     format,
			Extension: []Extension{
				{URL: ExtensionStability, ValueCodeableConcept: &Concept{Coding: []Coding{stability}}},
				{URL: ExtensionRetrieval, ValueCodeableConcept: &Concept{Coding: []Coding{retrieval}}},
			},
		}
	}
	content := []Content{item(ContentPDF, pdfURL, Coding{System: SystemFormat, Code: FormatUnstructured, Display: "Unstructured Document"})}
	if cfg.Structured {
		content = append(content, item(ContentFHIR, fhirURL, Coding{System: SystemFormat, Code: FormatStructured, Display: "Structured Document"}))
	}
	return &Pointer{
		ResourceType:     "DocumentReference",
		MasterIdentifier: &Identifier{System: SystemURI, Value: MasterFor(base, pv.PlanID, pv.Version)},
		Status:           "current",
		DocStatus:        "final",
		Type:             Concept{Coding: []Coding{{System: SystemSNOMED, Code: pv.Type, Display: recordTypes[pv.Type]}}},
		Category:         []Concept{{Coding: []Coding{{System: SystemSNOMED, Code: CategoryCarePlan, Display: categoryCarePlanTxt}}}},
		Subject:          Reference{Identifier: &Identifier{System: SystemNHSNumber, Value: pv.NHSNumber}},
		Date:             pv.Approved,
		Author:           []Reference{{Identifier: ods}},
		Custodian:        Reference{Identifier: ods},
		Description:      desc,
		Content:          content,
		Context: Context{
			PracticeSetting: Concept{Coding: []Coding{{System: SystemSNOMED, Code: cfg.PracticeSetting, Display: practiceSettings[cfg.PracticeSetting]}}},
			Related:         related,
		},
	}
}

// ContentOf returns the pointer's content item of a content type, nil when
// it has none.
func (p *Pointer) ContentOf(contentType string) *Content {
	for i := range p.Content {
		if p.Content[i].Attachment.ContentType == contentType {
			return &p.Content[i]
		}
	}
	return nil
}
