package nrl

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/net/html"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/store"
)

// Section titles of the approval's Composition (careplan) that the PDF puts
// on page 1, in this order: what a crew must see first.
var firstSections = []string{"CPR decision", "Preferred place of care and death"}

// Document is what the PDF is rendered from: the approval's Composition
// (the one rendering source, as for any other view of an approved plan) and
// the patient for the banner.
type Document struct {
	Composition map[string]any
	Patient     map[string]any
}

// PlanRef is the versioned plan the Composition records (event.detail):
// "CarePlan/{id}/_history/{v}".
func (d Document) PlanRef() resource.Reference {
	for _, e := range resource.List(d.Composition["event"]) {
		m, _ := e.(map[string]any)
		for _, x := range resource.List(m["detail"]) {
			xm, _ := x.(map[string]any)
			if r := resource.ParseReference(resource.Str(xm, "reference")); r.Type == "CarePlan" {
				return r
			}
		}
	}
	return resource.Reference{}
}

// approver is who legally attested the Composition, else its author.
func (d Document) approver() string {
	for _, a := range resource.List(d.Composition["attester"]) {
		m, _ := a.(map[string]any)
		if p := resource.Obj(m, "party"); p != nil {
			if s := resource.Str(p, "display"); s != "" {
				return s
			}
			return resource.Str(p, "reference")
		}
	}
	for _, a := range resource.List(d.Composition["author"]) {
		m, _ := a.(map[string]any)
		if s := resource.Str(m, "display"); s != "" {
			return s
		}
		if s := resource.Str(m, "reference"); s != "" {
			return s
		}
	}
	return "unknown"
}

// banner is the patient line repeated at the top of every page.
func (d Document) banner() (name, ids string) {
	p := d.Patient
	if names := resource.List(p["name"]); len(names) > 0 {
		m, _ := names[0].(map[string]any)
		var given []string
		for _, g := range resource.List(m["given"]) {
			if s, ok := g.(string); ok {
				given = append(given, s)
			}
		}
		name = strings.TrimSpace(strings.Join(given, " ") + " " + strings.ToUpper(resource.Str(m, "family")))
	}
	if name == "" {
		name = "Name not recorded"
	}
	nhs := nhsNumberOf(p)
	if len(nhs) == 10 {
		nhs = nhs[:3] + " " + nhs[3:6] + " " + nhs[6:]
	}
	ids = "NHS number: " + orNot(nhs) + "   Born: " + orNot(resource.Str(p, "birthDate")) + "   Gender: " + orNot(resource.Str(p, "gender"))
	return name, ids
}

func orNot(s string) string {
	if s == "" {
		return "not recorded"
	}
	return s
}

// readable is a FHIR instant as a person reads it, in UTC.
func readable(instant string) string {
	t, err := time.Parse(time.RFC3339Nano, instant)
	if err != nil {
		return instant
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// docSection is one section of the Composition as text.
type docSection struct {
	title string
	lines []string
}

func (d Document) sections() []docSection {
	var out []docSection
	for _, s := range resource.List(d.Composition["section"]) {
		m, _ := s.(map[string]any)
		out = append(out, docSection{title: resource.Str(m, "title"), lines: narrativeLines(resource.Str(resource.Obj(m, "text"), "div"))})
	}
	// Page 1 leads with the CPR decision and the preferred place of death,
	// said to be missing when the plan records none: a crew must not have to
	// look for them.
	var first, rest []docSection
	for _, t := range firstSections {
		found := false
		for _, s := range out {
			if s.title == t {
				first, found = append(first, s), true
			}
		}
		if !found {
			first = append(first, docSection{title: t, lines: []string{"Not recorded in this plan."}})
		}
	}
	for _, s := range out {
		if s.title != firstSections[0] && s.title != firstSections[1] {
			rest = append(rest, s)
		}
	}
	return append(first, rest...)
}

// narrativeLines is the text of a narrative's XHTML: one line per list item
// or paragraph; the heading paragraph (the section title) is left out by
// the caller's title.
func narrativeLines(div string) []string {
	doc, err := html.Parse(strings.NewReader(div))
	if err != nil {
		return nil
	}
	var lines []string
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "li" || n.Data == "p") {
			// A paragraph holding only bold text is the section's heading.
			if !(n.Data == "p" && n.FirstChild != nil && n.FirstChild == n.LastChild && n.FirstChild.Data == "b") {
				if t := strings.Join(strings.Fields(text(n)), " "); t != "" {
					lines = append(lines, t)
				}
			}
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return lines
}

// RenderPDF renders the approved plan as an A4 PDF: the patient banner on
// every page, the CPR decision and preferred place of death first on page
// 1, and the version and its approver.
func RenderPDF(d Document) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle(resource.Str(d.Composition, "title"), true)
	pdf.SetCreator("ucp", true)
	tr := pdf.UnicodeTranslatorFromDescriptor("") // cp1252: the core fonts' encoding
	name, ids := d.banner()
	plan := d.PlanRef()
	version := fmt.Sprintf("Version %s of CarePlan/%s, approved %s by %s", plan.Version, plan.ID, readable(resource.Str(d.Composition, "date")), d.approver())
	pdf.AliasNbPages("")
	pdf.SetHeaderFunc(func() {
		pdf.SetFillColor(0, 94, 184) // NHS blue
		pdf.SetTextColor(255, 255, 255)
		pdf.SetFont("Helvetica", "B", 13)
		pdf.CellFormat(0, 8, tr(name), "", 1, "L", true, 0, "")
		pdf.SetFont("Helvetica", "", 10)
		pdf.CellFormat(0, 6, tr(ids), "", 1, "L", true, 0, "")
		pdf.SetTextColor(0, 0, 0)
		pdf.Ln(3)
	})
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont("Helvetica", "", 8)
		pdf.CellFormat(0, 5, tr(fmt.Sprintf("%s   Page %d of {nb}", version, pdf.PageNo())), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 16)
	pdf.MultiCell(0, 8, tr(resource.Str(d.Composition, "title")), "", "L", false)
	pdf.SetFont("Helvetica", "", 10)
	pdf.MultiCell(0, 5, tr(version), "", "L", false)
	pdf.Ln(3)
	for _, s := range d.sections() {
		pdf.SetFont("Helvetica", "B", 12)
		pdf.MultiCell(0, 7, tr(s.title), "B", "L", false)
		pdf.SetFont("Helvetica", "", 11)
		if len(s.lines) == 0 {
			s.lines = []string{"None recorded."}
		}
		for _, l := range s.lines {
			pdf.MultiCell(0, 6, tr("- "+l), "", "L", false)
		}
		pdf.Ln(2)
	}
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		return nil, fmt.Errorf("nrl: rendering the PDF: %w", err)
	}
	return b.Bytes(), nil
}

// Reader reads resources as the caller in the context may see them;
// *service.Service is one.
type Reader interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	Find(ctx context.Context, typ, query string, limit int) ([]store.Version, error)
}

// maxApprovals bounds the Compositions of one patient LoadCurrent looks
// through for the approval of a plan's current version.
const maxApprovals = 1000

// Operator invokes FHIR operations as the caller in the context;
// *service.Service is one.
type Operator interface {
	Operation(ctx context.Context, req *service.OperationRequest) (*service.OperationResult, error)
}

// Documents serves what a pointer points to.
type Documents struct {
	Reader Reader
	// Ops runs Composition/{id}/$document for the FHIR document; without it
	// only the PDF is served.
	Ops Operator
}

// Load reads the approval's Composition and its patient as the caller in
// ctx, for a static pointer: the plan must still be shared (active; a
// withdrawn, revoked or completed plan is not found, as the read filter
// hides it) and the Composition must be its current approval (else Gone,
// naming the current version).
func (ds Documents) Load(ctx context.Context, composition string) (Document, error) {
	v, err := ds.Reader.Read(ctx, "Composition", composition)
	if err != nil {
		return Document{}, err
	}
	comp, err := resource.Parse(v.JSON)
	if err != nil {
		return Document{}, err
	}
	d := Document{Composition: comp}
	ref := d.PlanRef()
	if ref.ID == "" {
		return Document{}, outcome.Errorf(outcome.NotFound, "Composition/%s is not the document of a care plan", composition)
	}
	pv, err := ds.Reader.Read(ctx, "CarePlan", ref.ID)
	if err != nil {
		return Document{}, err
	}
	plan, err := resource.Parse(pv.JSON)
	if err != nil {
		return Document{}, err
	}
	if resource.Str(plan, "status") != "active" {
		return Document{}, outcome.Errorf(outcome.NotFound, "the care plan of this document is no longer shared (%s)", resource.Str(plan, "status"))
	}
	if cur := fmt.Sprint(pv.VersionID); cur != ref.Version {
		return Document{}, outcome.Errorf(outcome.Gone, "this document is of version %s of the care plan, superseded by version %s (CarePlan/%s/_history/%s): fetch the pointer again", ref.Version, cur, ref.ID, cur)
	}
	pat := refID(resource.Str(resource.Obj(comp, "subject"), "reference"), "Patient")
	p, err := ds.Reader.Read(ctx, "Patient", pat)
	if err != nil {
		return Document{}, err
	}
	if d.Patient, err = resource.Parse(p.JSON); err != nil {
		return Document{}, err
	}
	return d, nil
}

// LoadCurrent reads the Composition of the approval of plan's current
// version, for a dynamic pointer, as the caller in ctx: a plan no longer
// shared is not found, as with Load.
func (ds Documents) LoadCurrent(ctx context.Context, plan string) (Document, error) {
	pv, err := ds.Reader.Read(ctx, "CarePlan", plan)
	if err != nil {
		return Document{}, err
	}
	res, err := resource.Parse(pv.JSON)
	if err != nil {
		return Document{}, err
	}
	if resource.Str(res, "status") != "active" {
		return Document{}, outcome.Errorf(outcome.NotFound, "the care plan is no longer shared (%s)", resource.Str(res, "status"))
	}
	pat := refID(subjectRef(res), "Patient")
	if pat == "" {
		return Document{}, outcome.Errorf(outcome.NotFound, "CarePlan/%s names no patient", plan)
	}
	comps, err := ds.Reader.Find(ctx, "Composition", "subject=Patient/"+pat, maxApprovals)
	if err != nil {
		return Document{}, err
	}
	want := fmt.Sprint(pv.VersionID)
	for _, v := range comps {
		comp, err := resource.Parse(v.JSON)
		if err != nil {
			return Document{}, err
		}
		if r := (Document{Composition: comp}).PlanRef(); r.ID == plan && r.Version == want {
			return ds.Load(ctx, v.ID)
		}
	}
	// Never an earlier version in its place: what a clinician replaced
	// must not be shown as current.
	return Document{}, outcome.Errorf(outcome.NotFound, "version %s of CarePlan/%s has no approved document", want, plan)
}

// ServePDF answers a GET of a static pointer's URL with the PDF.
func (ds Documents) ServePDF(w http.ResponseWriter, r *http.Request, composition string) error {
	d, err := ds.Load(r.Context(), composition)
	if err != nil {
		return err
	}
	return writePDF(w, d)
}

// ServeCurrentPDF answers a GET of a dynamic pointer's URL with the PDF of
// the plan's current approved version.
func (ds Documents) ServeCurrentPDF(w http.ResponseWriter, r *http.Request, plan string) error {
	d, err := ds.LoadCurrent(r.Context(), plan)
	if err != nil {
		return err
	}
	return writePDF(w, d)
}

func writePDF(w http.ResponseWriter, d Document) error {
	b, err := RenderPDF(d)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(b)
	return err
}

// Bundle is the FHIR document of a loaded approval: the Bundle of
// Composition/{id}/$document, run through the service as the caller in ctx
// (authorised and audited as that operation); base is the FHIR base its
// fullUrls are under.
func (ds Documents) Bundle(ctx context.Context, d Document, base string) ([]byte, error) {
	if ds.Ops == nil {
		return nil, outcome.Errorf(outcome.NotFound, "this service does not serve the FHIR document of a pointer")
	}
	res, err := ds.Ops.Operation(ctx, &service.OperationRequest{Name: "document", Method: http.MethodGet,
		Type: "Composition", ID: resource.Str(d.Composition, "id"), Query: url.Values{}, Base: strings.TrimSuffix(base, "/")})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK || len(res.Body) == 0 {
		return nil, fmt.Errorf("nrl: Composition/%s/$document answered %d", resource.Str(d.Composition, "id"), res.Status)
	}
	return res.Body, nil
}

// ServeDocument answers a GET of a static pointer's structured content
// item with the FHIR document of the approval whose Composition is id:
// while it is the plan's current shared version, as ServePDF.
func (ds Documents) ServeDocument(w http.ResponseWriter, r *http.Request, composition, base string) error {
	d, err := ds.Load(r.Context(), composition)
	if err != nil {
		return err
	}
	return ds.writeBundle(w, r, d, base)
}

// ServeCurrentDocument answers a GET of a dynamic pointer's structured
// content item with the FHIR document of the plan's current approved
// version.
func (ds Documents) ServeCurrentDocument(w http.ResponseWriter, r *http.Request, plan, base string) error {
	d, err := ds.LoadCurrent(r.Context(), plan)
	if err != nil {
		return err
	}
	return ds.writeBundle(w, r, d, base)
}

func (ds Documents) writeBundle(w http.ResponseWriter, r *http.Request, d Document, base string) error {
	b, err := ds.Bundle(r.Context(), d, base)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ContentFHIR)
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(b)
	return err
}
