package bulk_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"ucp/bulk"
	"ucp/careplan"
	"ucp/fhir/search"
	"ucp/store/sqlite"
	"ucp/synth"
)

// newImporter opens a temp SQLite store with the care-plan rules, as
// cmd/ucp wires them.
func newImporter(t testing.TB) (*bulk.Importer, *[]bulk.Rejection) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := search.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	plans, err := careplan.New(careplan.Config{Store: st, Registry: reg, Validator: careplan.NewValidator(st, reg)})
	if err != nil {
		t.Fatal(err)
	}
	var rejected []bulk.Rejection
	im := &bulk.Importer{Store: st, Registry: reg, Rules: plans, Batch: 100,
		Reject: func(r bulk.Rejection) { rejected = append(rejected, r) }}
	return im, &rejected
}

// synthNDJSON is the generator's single-stream NDJSON: each patient's
// resources in the order of the patient's story.
func synthNDJSON(t testing.TB, patients int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := synth.Generate(synth.Options{Patients: patients, Seed: 1}, synth.NDJSONStream(&b)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestImportSynthAndReimport(t *testing.T) {
	im, rejected := newImporter(t)
	data := synthNDJSON(t, 50)
	lines := bytes.Count(data, []byte("\n"))
	ctx := context.Background()
	st, err := im.ImportNDJSON(ctx, bytes.NewReader(data), "synth.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range *rejected {
		t.Errorf("rejected: %s", r)
	}
	if st.Lines != lines || st.Written != lines || st.Rejected != 0 {
		t.Fatalf("stats %+v, want %d lines all written", st, lines)
	}
	if st.Extra == 0 {
		t.Errorf("no Provenance or Composition written by the rules: %+v", st)
	}
	// The generator writes each plan's later versions as later lines with
	// the same id: s1-0-plan has several.
	v, err := im.Store.Read(ctx, "CarePlan", "s1-0-plan")
	if err != nil {
		t.Fatal(err)
	}
	want := int64(bytes.Count(data, []byte(`"resourceType":"CarePlan","id":"s1-0-plan"`)))
	if want < 2 || v.VersionID != want {
		t.Errorf("CarePlan/s1-0-plan is version %d, want %d (one per line)", v.VersionID, want)
	}
	// Importing the same file again (a new run: a new Importer) changes
	// nothing.
	im = &bulk.Importer{Store: im.Store, Registry: im.Registry, Rules: im.Rules, Batch: im.Batch, Reject: im.Reject}
	st2, err := im.ImportNDJSON(ctx, bytes.NewReader(data), "synth.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if st2.Unchanged != lines || st2.Written != 0 || st2.Rejected != 0 {
		t.Errorf("re-import: %+v, want all %d unchanged", st2, lines)
	}
	if v2, _ := im.Store.Read(ctx, "CarePlan", "s1-0-plan"); v2 == nil || v2.VersionID != want {
		t.Errorf("re-import changed CarePlan/s1-0-plan: %+v", v2)
	}
}

func TestImportReportsBadLinesAndLoadsTheRest(t *testing.T) {
	im, rejected := newImporter(t)
	in := strings.Join([]string{
		`{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-01-02"}`,
		`{"resourceType":"Patient","id":"p2",`,                  // line 2: malformed
		`{"resourceType":"Patient","id":"p3","gender":"robot"}`, // line 3: invalid code
		``,
		`{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"code":{"text":"cancer"}}`,
		// line 6: an approved plan for a patient with no consent on record.
		`{"resourceType":"CarePlan","id":"plan1","status":"active","intent":"plan","category":[{"coding":[{"system":"http://snomed.info/sct","code":"736373009"}]}],"subject":{"reference":"Patient/p1"},"addresses":[{"reference":"Condition/c1"}]}`,
		`{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-01-03"}`,
	}, "\n") + "\n"
	st, err := im.ImportNDJSON(context.Background(), strings.NewReader(in), "in.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if st.Lines != 6 || st.Written != 3 || st.Rejected != 3 {
		t.Errorf("stats %+v, want 6 lines, 3 written, 3 rejected", st)
	}
	got := map[int]bulk.Rejection{}
	for _, r := range *rejected {
		got[r.Line] = r
		if r.File != "in.ndjson" || r.Status < 400 || r.Status > 499 {
			t.Errorf("rejection %s: want file in.ndjson and a 4xx", r)
		}
	}
	for line, want := range map[int]string{2: "JSON", 3: "gender", 6: "has no active Consent"} {
		if r, ok := got[line]; !ok || !strings.Contains(r.Reason, want) {
			t.Errorf("line %d: got %q, want a rejection mentioning %q", line, r.Reason, want)
		}
	}
	if v, err := im.Store.Read(context.Background(), "Patient", "p1"); err != nil || v.VersionID != 2 {
		t.Errorf("Patient/p1: %v %v, want version 2 from its second line", v, err)
	}
}
