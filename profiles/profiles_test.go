package profiles_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ucp/fhir/fhirpath"
	"ucp/fhir/fhirpkg"
	"ucp/fhir/model"
	"ucp/fhir/resource"
	"ucp/profiles"
)

const r4Base = "http://hl7.org/fhir/StructureDefinition/"

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func list(m map[string]any, k string) []any { l, _ := m[k].([]any); return l }

// stripSlices turns an element id into its path: "Patient.identifier:nhsNumber.system"
// → "Patient.identifier.system".
func stripSlices(id string) string {
	parts := strings.Split(id, ".")
	for i, p := range parts {
		if j := strings.IndexByte(p, ':'); j >= 0 {
			parts[i] = p[:j]
		}
	}
	return strings.Join(parts, ".")
}

// lookupPath walks an element path ("Observation.component.value[x]")
// through the R4 model and returns the element it names.
func lookupPath(path string) (model.ElementInfo, error) {
	parts := strings.Split(path, ".")
	typ := parts[0]
	var el model.ElementInfo
	for i, p := range parts[1:] {
		name := strings.TrimSuffix(p, "[x]")
		e, ok := model.Lookup(typ, name)
		if !ok {
			return el, fmt.Errorf("%s has no element %q", typ, name)
		}
		if strings.HasSuffix(p, "[x]") != e.IsChoice() {
			return el, fmt.Errorf("%s: [x] suffix does not match the element's choice-ness", p)
		}
		el = e
		if i < len(parts)-2 {
			if e.IsChoice() {
				return el, fmt.Errorf("cannot descend into choice %s", p)
			}
			typ = e.Types[0]
		}
	}
	return el, nil
}

func TestStructureDefinitionsWellFormed(t *testing.T) {
	var uk *fhirpkg.Package
	if dir := os.Getenv("UKCORE_DIR"); dir != "" {
		var err error
		if uk, err = fhirpkg.Load(dir); err != nil {
			t.Fatal(err)
		}
	}
	sds := profiles.StructureDefinitions()
	if len(sds) < 17 {
		t.Fatalf("got %d StructureDefinitions, want at least 17", len(sds))
	}
	for _, sd := range sds {
		id := str(sd, "id")
		t.Run(id, func(t *testing.T) {
			typ := str(sd, "type")
			if str(sd, "resourceType") != "StructureDefinition" {
				t.Errorf("resourceType %q", str(sd, "resourceType"))
			}
			if got, want := str(sd, "url"), profiles.BaseURL+id; got != want {
				t.Errorf("url %q, want %q", got, want)
			}
			if str(sd, "name") != id || str(sd, "title") == "" || str(sd, "description") == "" {
				t.Errorf("name %q (want %q), title or description missing", str(sd, "name"), id)
			}
			if model.Type(typ) == nil {
				t.Fatalf("type %q is not an R4 type", typ)
			}
			// Derived from UK Core's profile of the type where UK Core has
			// one (UK Core STU2 has none of ClinicalImpression).
			want := profiles.UKCoreBaseURL + "UKCore-" + typ
			if typ == "ClinicalImpression" || !model.IsResource(typ) {
				want = r4Base + typ
			}
			if got := str(sd, "baseDefinition"); got != want {
				t.Errorf("baseDefinition %q, want %q", got, want)
			}
			if uk != nil && strings.HasPrefix(want, profiles.UKCoreBaseURL) {
				if base, _ := uk.Profile(context.Background(), want); base == nil || str(base, "type") != typ {
					t.Errorf("UK Core (%s) has no %s profile %s", uk.Dir, typ, want)
				}
			}
			if str(sd, "derivation") != "constraint" || str(sd, "fhirVersion") != "4.0.1" || str(sd, "status") == "" {
				t.Errorf("derivation %q fhirVersion %q status %q", str(sd, "derivation"), str(sd, "fhirVersion"), str(sd, "status"))
			}
			wantKind := "resource"
			if !model.IsResource(typ) {
				wantKind = "complex-type"
			}
			if str(sd, "kind") != wantKind {
				t.Errorf("kind %q, want %q", str(sd, "kind"), wantKind)
			}
			diff, _ := sd["differential"].(map[string]any)
			elems := list(diff, "element")
			if len(elems) == 0 {
				t.Fatal("empty differential")
			}
			seen := map[string]bool{}
			keys := map[string]bool{}
			for i, x := range elems {
				el := x.(map[string]any)
				eid, path := str(el, "id"), str(el, "path")
				if i == 0 && (eid != typ || path != typ) {
					t.Errorf("first element %q/%q, want the root %q", eid, path, typ)
				}
				if path != typ && !strings.HasPrefix(path, typ+".") {
					t.Errorf("element path %q does not start with %q", path, typ)
				}
				if seen[eid] {
					t.Errorf("duplicate element id %q", eid)
				}
				seen[eid] = true
				if stripSlices(eid) != path {
					t.Errorf("element id %q does not match path %q", eid, path)
				}
				last := eid[strings.LastIndexByte(eid, '.')+1:]
				if j := strings.IndexByte(last, ':'); j >= 0 {
					if str(el, "sliceName") != last[j+1:] {
						t.Errorf("%s: sliceName %q, want %q", eid, str(el, "sliceName"), last[j+1:])
					}
				} else if str(el, "sliceName") != "" {
					t.Errorf("%s: sliceName on an element id without a slice", eid)
				}
				if path != typ {
					base, err := lookupPath(path)
					if err != nil {
						t.Errorf("%s: %v", eid, err)
						continue
					}
					checkCardinality(t, eid, el, base)
					for _, tx := range list(el, "type") {
						code := str(tx.(map[string]any), "code")
						if !slices.Contains(base.Types, code) {
							t.Errorf("%s: type %q not among the base types %v", eid, code, base.Types)
						}
						for _, tp := range list(tx.(map[string]any), "targetProfile") {
							if u, _ := tp.(string); model.Type(strings.TrimPrefix(u, r4Base)) == nil {
								t.Errorf("%s: targetProfile %q is not an R4 resource", eid, u)
							}
						}
						for _, p := range list(tx.(map[string]any), "profile") {
							u, _ := p.(string)
							if _, ok := profiles.Lookup(u); !ok && u != profiles.ExtensionNHSNumberVerificationStatus {
								t.Errorf("%s: unknown profile %q", eid, u)
							}
						}
					}
				}
				if b, ok := el["binding"].(map[string]any); ok {
					if _, ok := profiles.Lookup(str(b, "valueSet")); !ok || str(b, "strength") == "" {
						t.Errorf("%s: binding to unknown value set %q or no strength", eid, str(b, "valueSet"))
					}
				}
				if p, ok := el["patternCodeableConcept"].(map[string]any); ok {
					checkCodings(t, eid, p)
				}
				for _, c := range list(el, "constraint") {
					c := c.(map[string]any)
					k := str(c, "key")
					if keys[k] || k == "" || str(c, "human") == "" || str(c, "severity") == "" {
						t.Errorf("%s: constraint key %q duplicate or incomplete", eid, k)
					}
					keys[k] = true
					if _, err := fhirpath.Compile(str(c, "expression")); err != nil {
						t.Errorf("%s: constraint %s does not compile: %v", eid, k, err)
					}
				}
			}
		})
	}
}

func checkCardinality(t *testing.T, eid string, el map[string]any, base model.ElementInfo) {
	t.Helper()
	min := -1
	if n, ok := el["min"].(json.Number); ok {
		v, _ := n.Int64()
		min = int(v)
	}
	max, hasMax := el["max"].(string)
	if min >= 0 && min < base.Min && !strings.Contains(eid, ":") {
		t.Errorf("%s: min %d loosens the base min %d", eid, min, base.Min)
	}
	if hasMax {
		if base.Max == "1" && max != "0" && max != "1" {
			t.Errorf("%s: max %q loosens the base max 1", eid, max)
		}
		if max != "*" && min >= 0 {
			var m int
			fmt.Sscan(max, &m)
			if m < min {
				t.Errorf("%s: max %q below min %d", eid, max, min)
			}
		}
	}
}

// codeSystems maps each of our CodeSystem URLs to its codes.
func codeSystems() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, cs := range profiles.CodeSystems() {
		codes := map[string]bool{}
		for _, c := range list(cs, "concept") {
			codes[str(c.(map[string]any), "code")] = true
		}
		out[str(cs, "url")] = codes
	}
	return out
}

func checkCodings(t *testing.T, where string, cc map[string]any) {
	t.Helper()
	css := codeSystems()
	for _, c := range list(cc, "coding") {
		c := c.(map[string]any)
		if codes, ours := css[str(c, "system")]; ours && !codes[str(c, "code")] {
			t.Errorf("%s: code %s|%s is not in our CodeSystem", where, str(c, "system"), str(c, "code"))
		}
	}
}

func TestTerminology(t *testing.T) {
	css := codeSystems()
	for _, cs := range profiles.CodeSystems() {
		if n, _ := cs["count"].(json.Number); n.String() != fmt.Sprint(len(list(cs, "concept"))) {
			t.Errorf("%s: count %v, concepts %d", str(cs, "id"), cs["count"], len(list(cs, "concept")))
		}
		if str(cs, "url") != profiles.CodeSystemBaseURL+str(cs, "id") {
			t.Errorf("CodeSystem url %q does not match id", str(cs, "url"))
		}
	}
	for _, vs := range profiles.ValueSets() {
		if str(vs, "url") != profiles.ValueSetBaseURL+str(vs, "id") {
			t.Errorf("ValueSet url %q does not match id", str(vs, "url"))
		}
		compose, _ := vs["compose"].(map[string]any)
		incs := list(compose, "include")
		if len(incs) == 0 {
			t.Errorf("%s: empty compose", str(vs, "id"))
		}
		for _, inc := range incs {
			inc := inc.(map[string]any)
			codes, ours := css[str(inc, "system")]
			if len(list(inc, "concept")) == 0 {
				t.Errorf("%s: include of %s lists no concepts (validators need them enumerated)", str(vs, "id"), str(inc, "system"))
			}
			for _, c := range list(inc, "concept") {
				c := c.(map[string]any)
				if str(c, "display") == "" || ours && !codes[str(c, "code")] {
					t.Errorf("%s: concept %s|%s has no display or is not in the CodeSystem", str(vs, "id"), str(inc, "system"), str(c, "code"))
				}
			}
		}
	}
	// Every constant URL the domain code uses resolves.
	for _, u := range []string{profiles.ProfilePatient, profiles.ProfileCarePlan, profiles.ProfileCPRDecision, profiles.ProfileTreatmentEscalation,
		profiles.ProfilePreferredPlace, profiles.ProfilePrognosis, profiles.ProfileADRTFlag, profiles.ProfileLPAFlag, profiles.ProfileAdvanceDocument,
		profiles.ProfileKeyContact, profiles.ProfileLPAAttorney, profiles.ProfileCareTeam, profiles.ProfileConsent, profiles.ProfileCondition,
		profiles.ProfileAnticipatoryMedication, profiles.ProfileOrganization, profiles.ProfilePractitioner, profiles.ExtensionReviewDate,
		profiles.ValueSetCarePlanType, profiles.ValueSetConsentToShare, profiles.ValueSetPreferredPlace, profiles.SystemDeathLocationType,
		profiles.SystemTreatmentCeiling, profiles.SystemUCP} {
		if _, ok := profiles.Lookup(u); !ok {
			t.Errorf("constant URL %q has no resource", u)
		}
	}
	if _, ok := profiles.Lookup(profiles.ProfileCarePlan + "|0.1.0"); !ok {
		t.Error("Lookup does not ignore a |version suffix")
	}
	urls := profiles.URLs()
	if !slices.IsSorted(urls) || len(urls) != len(profiles.All()) {
		t.Errorf("URLs: %d, sorted %v; All: %d", len(urls), slices.IsSorted(urls), len(profiles.All()))
	}
}

type example struct {
	file string
	res  map[string]any
	sd   map[string]any
}

func loadExamples(t *testing.T, dir string) []example {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("..", "testdata", "profiles", dir, "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no examples in %s: %v", dir, err)
	}
	var out []example
	for _, name := range names {
		if filepath.Base(name) == "manifest.json" {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := resource.Parse(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		meta, _ := res["meta"].(map[string]any)
		prof, _ := list(meta, "profile")[0].(string)
		r, ok := profiles.Lookup(prof)
		if !ok || r.Type != "StructureDefinition" {
			t.Errorf("%s: meta.profile %q is not one of our profiles", name, prof)
			continue
		}
		sd := profiles.Tree(r.Raw)
		if str(sd, "type") != resource.Type(res) {
			t.Errorf("%s: a %s claiming profile %s of type %s", name, resource.Type(res), prof, str(sd, "type"))
		}
		if !resource.ValidID(resource.ID(res)) {
			t.Errorf("%s: invalid id %q", name, resource.ID(res))
		}
		out = append(out, example{filepath.Base(name), res, sd})
	}
	return out
}

type constraint struct{ key, expr string }

func constraints(sd map[string]any) []constraint {
	root := list(sd["differential"].(map[string]any), "element")[0].(map[string]any)
	var out []constraint
	for _, c := range list(root, "constraint") {
		c := c.(map[string]any)
		out = append(out, constraint{str(c, "key"), str(c, "expression")})
	}
	return out
}

// holds evaluates a constraint as a validator does: true, or an empty
// result, passes.
func holds(t *testing.T, c constraint, res map[string]any) bool {
	t.Helper()
	got, err := fhirpath.MustCompile(c.expr).Evaluate(res, &fhirpath.Env{})
	if err != nil {
		t.Fatalf("%s: %v", c.key, err)
	}
	if len(got) == 0 {
		return true
	}
	b, ok := got[0].Data().(bool)
	return len(got) == 1 && ok && b
}

type manifestEntry struct {
	File, Profile, Code, Location, Key, Description string
}

func TestExamples(t *testing.T) {
	valid := loadExamples(t, "valid")
	invalid := loadExamples(t, "invalid")
	covered := map[string][2]int{}
	for _, ex := range valid {
		c := covered[str(ex.sd, "url")]
		c[0]++
		covered[str(ex.sd, "url")] = c
		for _, k := range constraints(ex.sd) {
			if !holds(t, k, ex.res) {
				t.Errorf("valid/%s: invariant %s fails", ex.file, k.key)
			}
		}
	}

	data, err := os.ReadFile(filepath.Join("..", "testdata", "profiles", "invalid", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man struct{ Examples []manifestEntry }
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatal(err)
	}
	byFile := map[string]manifestEntry{}
	for _, m := range man.Examples {
		byFile[m.File] = m
	}
	if len(byFile) != len(invalid) || len(man.Examples) != len(invalid) {
		t.Errorf("manifest has %d entries, invalid/ has %d examples", len(man.Examples), len(invalid))
	}
	if len(invalid) < 30 {
		t.Errorf("only %d invalid examples", len(invalid))
	}
	codes := []string{"structure", "required", "value", "invariant", "code-invalid"}
	for _, ex := range invalid {
		m, ok := byFile[ex.file]
		if !ok {
			t.Errorf("invalid/%s is not in the manifest", ex.file)
			continue
		}
		url := str(ex.sd, "url")
		c := covered[url]
		c[1]++
		covered[url] = c
		if m.Profile != url || !slices.Contains(codes, m.Code) || m.Description == "" {
			t.Errorf("manifest %s: profile %q (file says %q), code %q", m.File, m.Profile, url, m.Code)
		}
		if !strings.HasPrefix(m.Location, resource.Type(ex.res)) {
			t.Errorf("manifest %s: location %q does not start with %s", m.File, m.Location, resource.Type(ex.res))
		}
		if _, err := fhirpath.Compile(m.Location); err != nil && !strings.Contains(m.Location, "[x]") {
			t.Errorf("manifest %s: location %q is not FHIRPath: %v", m.File, m.Location, err)
		}
		// Invariant failures must be exactly the named one; other kinds must
		// not trip an invariant, so each example fails in one way only.
		for _, k := range constraints(ex.sd) {
			want := !(m.Code == "invariant" && k.key == m.Key)
			if got := holds(t, k, ex.res); got != want {
				t.Errorf("invalid/%s: invariant %s holds=%v, want %v", ex.file, k.key, got, want)
			}
		}
		if m.Code == "invariant" && !slices.ContainsFunc(constraints(ex.sd), func(c constraint) bool { return c.key == m.Key }) {
			t.Errorf("manifest %s: key %q is not a constraint of %s", m.File, m.Key, url)
		}
	}
	for _, sd := range profiles.StructureDefinitions() {
		if str(sd, "kind") != "resource" {
			continue
		}
		if c := covered[str(sd, "url")]; c[0] == 0 || c[1] == 0 {
			t.Errorf("%s: %d valid and %d invalid examples; want at least one of each", str(sd, "id"), c[0], c[1])
		}
	}
}

func TestValidNHSNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"9434765919", true},
		{"9434765918", false},
		{"943476591", false},
		{"94347659190", false},
		{"943 476 5919", false},
		{"943476591a", false},
		{"", false},
		{"0000000000", true},
		{"9990001236", profiles.NHSCheckDigit("999000123") == 6},
	} {
		if got := profiles.ValidNHSNumber(tc.in); got != tc.want {
			t.Errorf("ValidNHSNumber(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	// A prefix whose check value would be 10 is never issued: none of its
	// ten completions is valid.
	impossible := 0
	for n := 0; n < 200; n++ {
		nine := fmt.Sprintf("943476%03d", n)
		if profiles.NHSCheckDigit(nine) >= 0 {
			continue
		}
		impossible++
		for d := 0; d < 10; d++ {
			if profiles.ValidNHSNumber(nine + fmt.Sprint(d)) {
				t.Errorf("%s%d accepted, but its prefix has no check digit", nine, d)
			}
		}
	}
	if impossible == 0 {
		t.Error("no prefix with check value 10 found among 200")
	}
}

// TestNHSInvariantMatchesGo checks that FHIRPath invariant ucp-pat-1 and
// ValidNHSNumber agree, so the validator and the domain code never disagree
// about an NHS number.
func TestNHSInvariantMatchesGo(t *testing.T) {
	r, _ := profiles.Lookup(profiles.ProfilePatient)
	var inv constraint
	for _, c := range constraints(profiles.Tree(r.Raw)) {
		if c.key == "ucp-pat-1" {
			inv = c
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 600
	if testing.Short() {
		n = 100
	}
	for i := 0; i < n; i++ {
		nine := fmt.Sprintf("%09d", rng.IntN(1e9))
		s := nine + fmt.Sprint(rng.IntN(10))
		if i%2 == 0 && profiles.NHSCheckDigit(nine) >= 0 {
			s = nine + fmt.Sprint(profiles.NHSCheckDigit(nine))
		}
		pat := map[string]any{"resourceType": "Patient", "identifier": []any{
			map[string]any{"system": profiles.SystemNHSNumber, "value": s}}}
		if got, want := holds(t, inv, pat), profiles.ValidNHSNumber(s); got != want {
			t.Fatalf("%s: FHIRPath says %v, Go says %v", s, got, want)
		}
	}
}
