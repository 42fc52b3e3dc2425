package bulk_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/bulk"
	"ucp/careplan"
	"ucp/fhir/outcome"
	"ucp/internal/resttest"
	"ucp/store"
	"ucp/synth"
)

// newImporter opens a temp SQLite store with the care-plan rules, as
// cmd/ucp wires them.
func newImporter(t testing.TB) (*bulk.Importer, *[]bulk.Rejection) {
	t.Helper()
	st, reg := resttest.OpenStore(t), resttest.NewRegistry(t)
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

// TestImportDoesNotDependOnBatching imports the same synthetic register in
// batches of very different sizes, so that a patient's story is sometimes
// split across batches and sometimes prepared whole inside one (its plan
// checked against the consent and sections in the same batch, a later
// version deferred to the next while the first is still being written):
// every size must store exactly the same versions.
func TestImportDoesNotDependOnBatching(t *testing.T) {
	data := synthNDJSON(t, 30)
	lines := bytes.Count(data, []byte("\n"))
	var want map[string]int64
	for _, size := range []int{7, 100, 5000} {
		im, rejected := newImporter(t)
		im.Batch = size
		st, err := im.ImportNDJSON(context.Background(), bytes.NewReader(data), "synth.ndjson")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range *rejected {
			t.Errorf("batch %d: rejected: %s", size, r)
		}
		if st.Written != lines {
			t.Errorf("batch %d: %+v, want all %d lines written", size, st, lines)
		}
		got := versions(t, im.Store)
		if want == nil {
			want = got
			continue
		}
		if d := diff(got, want); d != "" {
			t.Errorf("batch %d stored other versions than batch 7: %s", size, d)
		}
	}
}

// diff describes how two version maps differ, "" when they are equal.
func diff(got, want map[string]int64) string {
	var d []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			d = append(d, fmt.Sprintf("%s at version %d, want %d", k, got[k], want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			d = append(d, k+" should not exist")
		}
	}
	return strings.Join(d, "; ")
}

// versions lists every resource's current version number.
func versions(t *testing.T, st store.Store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	r, err := st.Search(context.Background(), store.Query{Count: 100000, Total: store.TotalNone})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range r.Versions {
		if v.Type == "Provenance" || v.Type == "Composition" {
			continue // the rules name these with fresh ids
		}
		out[v.Type+"/"+v.ID] = v.VersionID
	}
	return out
}

// refusing is a real store that refuses, as a whole, the writes refuse
// picks: as a store does when a concurrent writer changed a resource between
// preparation and write, or when it cannot take one resource.
type refusing struct {
	store.Store
	refuse func(changes []store.Change) bool
}

func (s *refusing) Write(ctx context.Context, changes []store.Change) ([]store.Version, error) {
	if s.refuse(changes) {
		return nil, outcome.Errorf(outcome.Conflict, "refused for the test")
	}
	return s.Store.Write(ctx, changes)
}

// TestImportBatchRefusedAsAWhole: a batch whose write fails is written line
// by line, and the batch prepared meanwhile against it is prepared again;
// nothing is lost, doubled or reported as rejected.
func TestImportBatchRefusedAsAWhole(t *testing.T) {
	data := synthNDJSON(t, 10)
	lines := bytes.Count(data, []byte("\n"))

	clean, _ := newImporter(t)
	clean.Batch = 40
	if _, err := clean.ImportNDJSON(context.Background(), bytes.NewReader(data), "synth.ndjson"); err != nil {
		t.Fatal(err)
	}

	im, rejected := newImporter(t)
	im.Batch = 40
	// The first three batch writes (more resources than one line with its
	// approval writes) are refused.
	left := 3
	im.Store = &refusing{Store: im.Store, refuse: func(changes []store.Change) bool {
		if len(changes) > 3 && left > 0 {
			left--
			return true
		}
		return false
	}}
	st, err := im.ImportNDJSON(context.Background(), bytes.NewReader(data), "synth.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range *rejected {
		t.Errorf("rejected: %s", r)
	}
	if st.Written != lines || st.Rejected != 0 {
		t.Errorf("stats %+v, want all %d lines written", st, lines)
	}
	if d := diff(versions(t, im.Store), versions(t, clean.Store)); d != "" {
		t.Errorf("after refused batches the store differs from a clean import: %s", d)
	}
}

// TestImportLineRefusedByTheStore: when the store refuses one resource (here
// a patient), its batch is written line by line without it, and the lines
// prepared meanwhile on the assumption that it was stored are judged again:
// the patient's plan, in the same batch or the next, is refused rather than
// stored for a patient who is not there.
func TestImportLineRefusedByTheStore(t *testing.T) {
	data := synthNDJSON(t, 6)
	clean, _ := newImporter(t)
	clean.Batch = 40
	if _, err := clean.ImportNDJSON(context.Background(), bytes.NewReader(data), "synth.ndjson"); err != nil {
		t.Fatal(err)
	}

	im, rejected := newImporter(t)
	im.Batch = 40
	bad := store.Ref{Type: "Patient", ID: "s1-3-patient"}
	im.Store = &refusing{Store: im.Store, refuse: func(changes []store.Change) bool {
		return slices.ContainsFunc(changes, func(c store.Change) bool { return c.Type == bad.Type && c.ID == bad.ID })
	}}
	if _, err := im.ImportNDJSON(context.Background(), bytes.NewReader(data), "synth.ndjson"); err != nil {
		t.Fatal(err)
	}
	refused := map[string]bool{}
	for _, r := range *rejected {
		refused[r.Type+"/"+r.ID] = true
	}
	if !refused["Patient/s1-3-patient"] || !refused["CarePlan/s1-3-plan"] {
		t.Errorf("rejected %v, want the patient and its plan", refused)
	}
	got, want := versions(t, im.Store), versions(t, clean.Store)
	if _, ok := got["CarePlan/s1-3-plan"]; ok {
		t.Errorf("CarePlan/s1-3-plan was stored for a patient the store refused")
	}
	for k, v := range want {
		if strings.HasPrefix(k, "CarePlan/") && k != "CarePlan/s1-3-plan" && got[k] != v {
			t.Errorf("%s at version %d, want %d as in a clean import", k, got[k], v)
		}
	}
}

// TestImportRegistersSearchParameter: a SearchParameter imported in bulk
// goes through the one write pipeline, so it is registered once stored and
// resources imported after it are searchable by it, without a restart.
func TestImportRegistersSearchParameter(t *testing.T) {
	im, rejected := newImporter(t)
	ctx := context.Background()
	sp := `{"resourceType":"SearchParameter","id":"patient-sex","url":"https://ucp.example.org/fhir/SearchParameter/patient-sex","name":"sex","status":"active","code":"sex","base":["Patient"],"type":"token","description":"administrative gender, by another name","expression":"Patient.gender"}` + "\n"
	if _, err := im.ImportNDJSON(ctx, strings.NewReader(sp), "sp.ndjson"); err != nil {
		t.Fatal(err)
	}
	if _, ok := im.Registry.Lookup("Patient", "sex"); !ok {
		t.Fatalf("Patient?sex is not registered after the import (rejected: %v)", *rejected)
	}
	patients := `{"resourceType":"Patient","id":"imp-f","gender":"female"}` + "\n" + `{"resourceType":"Patient","id":"imp-m","gender":"male"}` + "\n"
	if _, err := im.ImportNDJSON(ctx, strings.NewReader(patients), "patients.ndjson"); err != nil {
		t.Fatal(err)
	}
	if len(*rejected) != 0 {
		t.Fatalf("rejected: %v", *rejected)
	}
	q, err := im.Registry.ParseCondition(ctx, "Patient", "sex=female")
	if err != nil {
		t.Fatal(err)
	}
	q.Types = []string{"Patient"}
	res, err := im.Store.Search(ctx, *q)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range res.Versions {
		got = append(got, v.Type+"/"+v.ID)
	}
	if diff := cmp.Diff([]string{"Patient/imp-f"}, got); diff != "" {
		t.Errorf("Patient?sex=female (-want +got):\n%s", diff)
	}
}

// TestImportBundle: a transaction Bundle is written all or nothing with its
// references rewritten; a batch Bundle entry by entry, a bad entry refused
// on its own.
func TestImportBundle(t *testing.T) {
	im, rejected := newImporter(t)
	ctx := context.Background()
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:7a1c2d3e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","gender":"female"},"request":{"method":"POST","url":"Patient"}},
	 {"resource":{"resourceType":"Patient","id":"bundle-p2","gender":"male","link":[{"other":{"reference":"urn:uuid:7a1c2d3e-0000-4000-8000-000000000001"},"type":"seealso"}]},"request":{"method":"PUT","url":"Patient/bundle-p2"}}]}`
	st, err := im.ImportBundle(ctx, []byte(tx), "tx.json")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(bulk.Stats{Files: 1, Lines: 2, Bytes: int64(len(tx)), Written: 2, Created: 2, Batches: 1}, st); diff != "" {
		t.Errorf("transaction stats (-want +got):\n%s\nrejected: %v", diff, *rejected)
	}
	v, err := im.Store.Read(ctx, "Patient", "bundle-p2")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(v.JSON, []byte("urn:uuid:")) {
		t.Errorf("the reference to the bundle's other entry was not rewritten: %s", v.JSON)
	}

	batch := `{"resourceType":"Bundle","type":"batch","entry":[
	 {"resource":{"resourceType":"Patient","id":"bundle-p3"},"request":{"method":"PUT","url":"Patient/bundle-p3"}},
	 {"resource":{"resourceType":"Observation"},"request":{"method":"POST","url":"Patient"}},
	 {"request":{"method":"DELETE","url":"Patient/bundle-p2"}}]}`
	st, err = im.ImportBundle(ctx, []byte(batch), "batch.json")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(bulk.Stats{Files: 1, Lines: 3, Bytes: int64(len(batch)), Written: 2, Created: 1, Rejected: 1, Batches: 1}, st); diff != "" {
		t.Errorf("batch stats (-want +got):\n%s", diff)
	}
	if len(*rejected) != 1 || (*rejected)[0].Status != 400 || !strings.HasPrefix((*rejected)[0].Reason, "Bundle.entry[1]") {
		t.Errorf("rejected %v, want entry 1 refused with 400", *rejected)
	}
	if _, err := im.Store.Read(ctx, "Patient", "bundle-p2"); outcome.KindOf(err) != outcome.Gone {
		t.Errorf("Patient/bundle-p2 after the batch's delete: %v, want Gone", err)
	}
}
