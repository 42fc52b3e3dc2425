package profiles

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
)

//go:embed structuredefinitions/*.json valuesets/*.json codesystems/*.json searchparameters/*.json measures/*.json questionnaires/*.json
var files embed.FS

// A Resource is one conformance resource as a JSON tree (map[string]any
// whose numbers are json.Number), together with its raw bytes.
type Resource struct {
	URL  string
	Type string // StructureDefinition, ValueSet, CodeSystem, SearchParameter, Measure or Questionnaire
	Raw  json.RawMessage
}

type catalogue struct {
	sds, vss, css, sps, ms, qs []Resource
	byURL                      map[string]Resource
}

// load parses the embedded files once. A malformed file is a build defect
// that the package tests catch, so it panics rather than returning an error
// every caller would have to handle.
var load = sync.OnceValue(func() *catalogue {
	c := &catalogue{byURL: map[string]Resource{}}
	for _, dir := range []string{"structuredefinitions", "valuesets", "codesystems", "searchparameters", "measures", "questionnaires"} {
		entries, err := fs.ReadDir(files, dir)
		if err != nil {
			panic(err)
		}
		for _, e := range entries { // ReadDir sorts by name, so order is stable
			raw, err := files.ReadFile(path.Join(dir, e.Name()))
			if err != nil {
				panic(err)
			}
			var head struct {
				ResourceType string `json:"resourceType"`
				URL          string `json:"url"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				panic(fmt.Sprintf("profiles: %s/%s: %v", dir, e.Name(), err))
			}
			r := Resource{URL: head.URL, Type: head.ResourceType, Raw: raw}
			if _, dup := c.byURL[r.URL]; dup {
				panic("profiles: duplicate canonical URL " + r.URL)
			}
			c.byURL[r.URL] = r
			switch head.ResourceType {
			case "StructureDefinition":
				c.sds = append(c.sds, r)
			case "ValueSet":
				c.vss = append(c.vss, r)
			case "CodeSystem":
				c.css = append(c.css, r)
			case "SearchParameter":
				c.sps = append(c.sps, r)
			case "Measure":
				c.ms = append(c.ms, r)
			case "Questionnaire":
				c.qs = append(c.qs, r)
			default:
				panic("profiles: unexpected resourceType in " + e.Name())
			}
		}
	}
	return c
})

func trees(rs []Resource) []map[string]any {
	out := make([]map[string]any, len(rs))
	for i, r := range rs {
		out[i] = Tree(r.Raw)
	}
	return out
}

// Tree parses raw conformance JSON into a fresh tree with numbers kept as
// json.Number. Each call returns a new tree, so callers may modify it.
func Tree(raw []byte) map[string]any {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		panic(err) // embedded files are checked by the tests
	}
	return m
}

// StructureDefinitions returns every profile and extension definition, as
// fresh JSON trees, in a stable order (by file name).
func StructureDefinitions() []map[string]any { return trees(load().sds) }

// ValueSets returns every ValueSet the profiles bind to, as fresh trees.
func ValueSets() []map[string]any { return trees(load().vss) }

// CodeSystems returns our own CodeSystems, as fresh trees.
func CodeSystems() []map[string]any { return trees(load().css) }

// SearchParameters returns our own search parameters, for parts of the
// plans that R4 defines none for, as fresh trees. The server registers them
// before it writes anything, so every write, import and $reindex indexes
// them.
func SearchParameters() []map[string]any { return trees(load().sps) }

// Measures returns the uptake, quality, outcome and patient-started Measures that package
// report evaluates, as fresh trees, by id.
func Measures() []map[string]any { return trees(load().ms) }

// Questionnaires returns the forms patients fill in (QuestionnairePatientPlan),
// as fresh trees.
func Questionnaires() []map[string]any { return trees(load().qs) }

// All returns every embedded conformance resource with its raw JSON, in a
// stable order: StructureDefinitions, then ValueSets, then CodeSystems, then
// SearchParameters, then Measures, then Questionnaires.
func All() []Resource {
	c := load()
	return slices.Concat(c.sds, c.vss, c.css, c.sps, c.ms, c.qs)
}

// URLs returns the canonical URLs of every embedded resource, sorted.
func URLs() []string {
	c := load()
	out := make([]string, 0, len(c.byURL))
	for u := range c.byURL {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Lookup returns the resource with canonical URL url (a "|version" suffix
// is ignored, since we hold one version of each).
func Lookup(url string) (Resource, bool) {
	if i := strings.IndexByte(url, '|'); i >= 0 {
		url = url[:i]
	}
	r, ok := load().byURL[url]
	return r, ok
}

// ValidNHSNumber reports whether s is a well-formed NHS number: exactly ten
// ASCII digits whose last digit is the modulus 11 check digit of the first
// nine (weights 10 down to 2; a remainder giving check value 10 is never
// issued, and 11 means 0). It is the Go twin of invariant ucp-pat-1.
func ValidNHSNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		if i < 9 {
			sum += int(c-'0') * (10 - i)
		}
	}
	check := (11 - sum%11) % 11
	return check != 10 && check == int(s[9]-'0')
}

// NHSCheckDigit returns the check digit for the first nine digits of an NHS
// number, or -1 when no valid number starts with them (the check value
// would be 10) or nine is not nine digits.
func NHSCheckDigit(nine string) int {
	if len(nine) != 9 {
		return -1
	}
	sum := 0
	for i := 0; i < 9; i++ {
		c := nine[i]
		if c < '0' || c > '9' {
			return -1
		}
		sum += int(c-'0') * (10 - i)
	}
	check := (11 - sum%11) % 11
	if check == 10 {
		return -1
	}
	return check
}

// UKCoreBaseURL starts the canonical URL of every UK Core
// StructureDefinition; our profiles derive from UK Core's where it has one.
const UKCoreBaseURL = "https://fhir.hl7.org.uk/StructureDefinition/"

// The UK Core profiles of the resources the server writes itself (a plan's
// approval Provenance and document Composition, its AuditEvents), which
// claim them in meta.profile.
const (
	ProfileUKCoreComposition = UKCoreBaseURL + "UKCore-Composition"
	ProfileUKCoreProvenance  = UKCoreBaseURL + "UKCore-Provenance"
	ProfileUKCoreAuditEvent  = UKCoreBaseURL + "UKCore-AuditEvent"
)

// coreSD starts the canonical URL of the R4 base types.
const coreSD = "http://hl7.org/fhir/StructureDefinition/"

// standIns are the stand-ins for the UK Core profiles ours derive from, by
// url (see StandIn).
var standIns = sync.OnceValue(func() map[string]map[string]any {
	m := map[string]map[string]any{}
	for _, sd := range StructureDefinitions() {
		base, _ := sd["baseDefinition"].(string)
		typ, _ := sd["type"].(string)
		if !strings.HasPrefix(base, UKCoreBaseURL) || m[base] != nil {
			continue
		}
		name := strings.ReplaceAll(strings.TrimPrefix(base, UKCoreBaseURL), "-", "")
		m[base] = map[string]any{
			"resourceType": "StructureDefinition", "url": base, "name": name, "status": "active",
			"kind": sd["kind"], "abstract": false, "type": typ, "derivation": "constraint",
			"baseDefinition": coreSD + typ,
			"description":    "Stand-in for " + base + " while UK Core is not loaded: no constraints of its own, so that profiles deriving from it are checked against their own constraints on the R4 base type.",
			"differential":   map[string]any{"element": []any{map[string]any{"id": typ, "path": typ}}},
		}
	}
	return m
})

// StandIn returns a stand-in for url when it is a UK Core profile one of
// ours derives from: a StructureDefinition with that url and type, on the
// R4 base type, constraining nothing. The server serves it only when UK
// Core is not loaded, so that our profiles still validate against their own
// constraints (and says so when it starts); with UK Core loaded, the real
// definition takes its place. Each call returns a fresh tree.
func StandIn(url string) (map[string]any, bool) {
	url, _, _ = strings.Cut(url, "|")
	sd, ok := standIns()[url]
	if !ok {
		return nil, false
	}
	return Tree(mustJSON(sd)), true
}

// UKCoreBases returns the UK Core profiles ours derive from, sorted.
func UKCoreBases() []string {
	var out []string
	for u := range standIns() {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
