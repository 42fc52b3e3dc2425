package synth_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"ucp/fhir/fhirpath"
	"ucp/fhir/resource"
	"ucp/profiles"
	"ucp/synth"
)

func ndjson(t testing.TB, opts synth.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := synth.Generate(opts, synth.NDJSONStream(&buf)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func bundles(t testing.TB, opts synth.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := synth.Generate(opts, synth.BundleStream(&buf)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lines(t testing.TB, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		res, err := resource.Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", len(out)+1, err)
		}
		out = append(out, res)
	}
	return out
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func TestDeterministic(t *testing.T) {
	a := synth.Options{Patients: 120, Seed: 7}
	if !bytes.Equal(ndjson(t, a), ndjson(t, a)) {
		t.Error("NDJSON differs between two runs with the same seed")
	}
	if !bytes.Equal(bundles(t, a), bundles(t, a)) {
		t.Error("Bundles differ between two runs with the same seed")
	}
	b := a
	b.Seed = 8
	if bytes.Equal(ndjson(t, a), ndjson(t, b)) {
		t.Error("seeds 7 and 8 give the same output")
	}
	// A prefix of patients is the same whatever the total, except for the
	// practice count, which follows the total; fix it to compare.
	small, large := synth.Options{Patients: 10, Seed: 3, Practices: 20}, synth.Options{Patients: 30, Seed: 3, Practices: 20}
	if !bytes.HasPrefix(ndjson(t, large), ndjson(t, small)) {
		t.Error("the first 10 patients change when 30 are generated")
	}
}

func TestNHSNumbersValidAndUnique(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 2_000
	}
	seen := map[string]bool{}
	patients := 0
	w := recordFunc(func(rec *synth.Record) error {
		for _, e := range rec.Entries {
			if e.Type != "Patient" {
				continue
			}
			patients++
			nhs := e.IdentifierValue
			if !profiles.ValidNHSNumber(nhs) || !strings.HasPrefix(nhs, "999") {
				t.Errorf("patient %d: NHS number %q is not a valid 999-range number", rec.Index, nhs)
			}
			if seen[nhs] {
				t.Errorf("patient %d: NHS number %s used twice", rec.Index, nhs)
			}
			seen[nhs] = true
		}
		return nil
	})
	if err := synth.Generate(synth.Options{Patients: n, Seed: 42}, w); err != nil {
		t.Fatal(err)
	}
	if patients != n {
		t.Errorf("%d patients, want %d", patients, n)
	}
}

type recordFunc func(*synth.Record) error

func (f recordFunc) Write(r *synth.Record) error { return f(r) }

// references returns every Reference.reference in a tree.
func references(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "reference" {
				*out = append(*out, s)
			} else {
				references(x, out)
			}
		}
	case []any:
		for _, x := range v {
			references(x, out)
		}
	}
}

type invariant struct {
	key  string
	expr *fhirpath.Expression
}

// profileChecks holds, per profile URL, its type and root invariants.
func profileChecks(t testing.TB) (types map[string]string, invs map[string][]invariant) {
	types, invs = map[string]string{}, map[string][]invariant{}
	for _, sd := range profiles.StructureDefinitions() {
		url := str(sd, "url")
		types[url] = str(sd, "type")
		root := sd["differential"].(map[string]any)["element"].([]any)[0].(map[string]any)
		cs, _ := root["constraint"].([]any)
		for _, c := range cs {
			c := c.(map[string]any)
			invs[url] = append(invs[url], invariant{str(c, "key"), fhirpath.MustCompile(str(c, "expression"))})
		}
	}
	return types, invs
}

// TestNDJSONValid checks every line: it parses, has a valid id, names a
// profile of its type where we have one (and then meets its invariants),
// and every reference points at something written earlier (a Provenance
// at a plan version that exists by then).
func TestNDJSONValid(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 100
	}
	types, invs := profileChecks(t)
	types[profiles.ProfileUKCoreProvenance] = "Provenance" // as the server's own approvals claim
	// UK Core has no Goal profile, nor do we; a patient's answers and the
	// practice's Task are written as package patientplan writes them,
	// without one.
	unprofiled := map[string]bool{"Goal": true, "QuestionnaireResponse": true, "Task": true}
	versions := map[string]int{}
	counts := map[string]int{}
	for i, res := range lines(t, ndjson(t, synth.Options{Patients: n, Seed: 11})) {
		typ, id := resource.Type(res), resource.ID(res)
		counts[typ]++
		if !resource.ValidID(id) {
			t.Fatalf("line %d: invalid id %q", i+1, id)
		}
		meta, _ := res["meta"].(map[string]any)
		profs, _ := meta["profile"].([]any)
		switch {
		case len(profs) == 0 && !unprofiled[typ]:
			t.Errorf("line %d: %s/%s names no profile", i+1, typ, id)
		case len(profs) > 0:
			url, _ := profs[0].(string)
			if types[url] != typ {
				t.Errorf("line %d: %s/%s names %q, not a profile for %s", i+1, typ, id, url, typ)
			}
			for _, inv := range invs[url] {
				got, err := inv.expr.Evaluate(res, &fhirpath.Env{})
				if err != nil || len(got) == 1 && got[0].Data() != true {
					t.Errorf("line %d: %s/%s fails %s (%v)", i+1, typ, id, inv.key, err)
				}
			}
		}
		var refs []string
		references(res, &refs)
		for _, ref := range refs {
			key, ver, versioned := strings.Cut(ref, "/_history/")
			have := versions[key]
			if v, err := strconv.Atoi(ver); have == 0 || versioned && (err != nil || v < 1 || v > have) {
				t.Errorf("line %d: %s/%s refers to %q, not written before it (versions so far: %d)", i+1, typ, id, ref, have)
			}
		}
		versions[typ+"/"+id]++
	}
	for _, typ := range []string{"Patient", "CarePlan", "Observation", "Condition", "Consent", "RelatedPerson", "CareTeam", "ClinicalImpression",
		"Flag", "DocumentReference", "MedicationStatement", "Provenance", "Organization", "Practitioner", "Goal"} {
		if counts[typ] == 0 {
			t.Errorf("no %s generated", typ)
		}
	}
}

// TestBundlesResolve checks the transaction form: urn:uuid fullUrls,
// references that resolve within the bundle or, for later steps, by
// identifier to something an earlier bundle of the same patient (or a
// shared resource) created.
func TestBundlesResolve(t *testing.T) {
	var patient int = -1
	var known map[string]bool // "Type?identifier=sys|value" created so far for this patient
	steps := 0
	err := synth.Generate(synth.Options{Patients: 150, Seed: 5}, synth.Bundles(func(p, step int, data []byte) error {
		steps++
		if p != patient {
			if step != 0 {
				t.Fatalf("patient %d starts at step %d", p, step)
			}
			patient, known = p, map[string]bool{}
		}
		b, err := resource.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if str(b, "type") != "transaction" {
			t.Fatalf("bundle type %q", str(b, "type"))
		}
		full := map[string]bool{}
		entries, _ := b["entry"].([]any)
		for _, e := range entries {
			full[str(e.(map[string]any), "fullUrl")] = true
		}
		for _, x := range entries {
			e := x.(map[string]any)
			res := e["resource"].(map[string]any)
			req := e["request"].(map[string]any)
			typ := resource.Type(res)
			if !strings.HasPrefix(str(e, "fullUrl"), "urn:uuid:") {
				t.Errorf("fullUrl %q", str(e, "fullUrl"))
			}
			if _, ok := res["id"]; ok {
				t.Errorf("%s entry carries an id", typ)
			}
			method, url := str(req, "method"), str(req, "url")
			switch {
			case typ == "Organization" || typ == "Practitioner":
				if method != "POST" || !strings.HasPrefix(str(req, "ifNoneExist"), "identifier=") {
					t.Errorf("shared %s is not a conditional create: %v", typ, req)
				}
			case typ == "CarePlan":
				if method != "PUT" || !strings.HasPrefix(url, "CarePlan?identifier=") {
					t.Errorf("plan is not a conditional update: %v", req)
				}
			default:
				if method != "POST" || url != typ {
					t.Errorf("%s request %v", typ, req)
				}
			}
			var refs []string
			references(res, &refs)
			for _, ref := range refs {
				if !full[ref] && !known[ref] {
					t.Errorf("patient %d step %d: %s refers to %q, which resolves to nothing", p, step, typ, ref)
				}
			}
			if ids, ok := res["identifier"].([]any); ok {
				for _, id := range ids {
					id := id.(map[string]any)
					known[typ+"?identifier="+str(id, "system")+"|"+str(id, "value")] = true
				}
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if steps <= 150 {
		t.Errorf("%d bundles for 150 patients: no later plan versions", steps)
	}
}

// TestDistribution checks the mix looks like a real register: not all
// plans active, some superseded, mostly consent given, mostly old.
func TestDistribution(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 800
	}
	status := map[string]string{} // plan id -> final status
	planVersions := map[string]int{}
	consent := map[string]int{}
	cpr := map[string]int{}
	families := map[string]bool{}
	old := 0
	postcode := regexp.MustCompile(`^[A-Z]{1,2}[0-9]{1,2} [0-9][ABD-HJLNP-UW-Z]{2}$`)
	ods := regexp.MustCompile(`^[EFGH]8[0-9][0-9]{3}$`)
	for _, res := range lines(t, ndjson(t, synth.Options{Patients: n, Seed: 99})) {
		switch resource.Type(res) {
		case "CarePlan":
			status[resource.ID(res)] = str(res, "status")
			planVersions[resource.ID(res)]++
		case "Consent":
			if str(res, "status") == "active" {
				code := res["category"].([]any)[0].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
				consent[code]++
			}
		case "Observation":
			if v, ok := res["valueCodeableConcept"].(map[string]any); ok && strings.Contains(resource.ID(res), "-cpr") {
				cpr[v["coding"].([]any)[0].(map[string]any)["code"].(string)]++
			}
		case "Patient":
			name := res["name"].([]any)[0].(map[string]any)
			families[str(name, "family")] = true
			if str(res, "birthDate") < "1951-11-01" {
				old++
			}
			addr := res["address"].([]any)[0].(map[string]any)
			if !postcode.MatchString(str(addr, "postalCode")) {
				t.Errorf("postcode %q", str(addr, "postalCode"))
			}
		case "Organization":
			v := res["identifier"].([]any)[0].(map[string]any)["value"].(string)
			if !ods.MatchString(v) {
				t.Errorf("ODS code %q", v)
			}
		}
	}
	final := map[string]int{}
	superseded := 0
	for id, s := range status {
		final[s]++
		if planVersions[id] > 2 {
			superseded++
		}
	}
	pct := func(k, total int) float64 { return 100 * float64(k) / float64(total) }
	t.Logf("final plan status %v; plans with >2 versions %d; consent %v; CPR %v; aged 75+ %.0f%%; %d family names",
		final, superseded, consent, cpr, pct(old, n), len(families))
	if len(status) != n {
		t.Errorf("%d plans for %d patients", len(status), n)
	}
	for _, s := range []string{"draft", "active", "revoked", "completed"} {
		if p := pct(final[s], n); p < 3 || p > 75 {
			t.Errorf("%.1f%% of plans end %s", p, s)
		}
	}
	if p := pct(superseded, n); p < 5 {
		t.Errorf("only %.1f%% of plans have superseded versions", p)
	}
	total := 0
	for _, c := range consent {
		total += c
	}
	if p := pct(consent[profiles.CodeConsentGiven], total); p < 55 || p > 92 {
		t.Errorf("consent given in %.0f%% of active consents", p)
	}
	for _, c := range []string{profiles.CodeConsentBestInterests, profiles.CodeConsentWithdrawn, profiles.CodeConsentLPA} {
		if consent[c] == 0 {
			t.Errorf("no active consent %s", c)
		}
	}
	if p := pct(cpr[profiles.CodeNotForCPR], n); p < 50 || p > 95 {
		t.Errorf("%.0f%% not for CPR", p)
	}
	if p := pct(old, n); p < 55 {
		t.Errorf("only %.0f%% aged 75 or over", p)
	}
	if len(families) < 80 {
		t.Errorf("only %d family names", len(families))
	}
}

func TestDirWriter(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ndjson", "bundle"} {
		format, err := synth.ParseFormat(f)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, f)
		w, err := synth.NewDirWriter(out, format)
		if err != nil {
			t.Fatal(err)
		}
		if err := synth.Generate(synth.Options{Patients: 5, Seed: 1}, w); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		names, _ := filepath.Glob(filepath.Join(out, "*"))
		if len(names) < 5 {
			t.Errorf("%s: only %d files", f, len(names))
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, "ndjson", "Patient.ndjson")); err != nil || bytes.Count(data, []byte("\n")) != 5 {
		t.Errorf("Patient.ndjson: %d lines, %v", bytes.Count(data, []byte("\n")), err)
	}
	if _, err := synth.ParseFormat("csv"); err == nil {
		t.Error("ParseFormat accepted csv")
	}
	if err := synth.Generate(synth.Options{Patients: synth.MaxPatients + 1}, synth.NDJSONStream(io.Discard)); err == nil {
		t.Error("Generate accepted more patients than there are test NHS numbers")
	}
}

func BenchmarkGenerateNDJSON(b *testing.B) {
	const per = 100
	var bytesOut int64
	for b.Loop() {
		cw := &countWriter{}
		if err := synth.Generate(synth.Options{Patients: per, Seed: 1}, synth.NDJSONStream(cw)); err != nil {
			b.Fatal(err)
		}
		bytesOut += cw.n
	}
	b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "patients/s")
	b.SetBytes(bytesOut / int64(b.N))
}

func BenchmarkGenerateBundles(b *testing.B) {
	const per = 100
	for b.Loop() {
		if err := synth.Generate(synth.Options{Patients: per, Seed: 1}, synth.BundleStream(io.Discard)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "patients/s")
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
