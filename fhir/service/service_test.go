package service_test

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/store"
	"ucp/store/sqlite"
)

func TestNextVersion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cur     *store.Version
		deleted int64
		want    int64
	}{
		{"new", nil, 0, 1},
		{"current", &store.Version{VersionID: 3}, 0, 4},
		{"deleted then written again", nil, 5, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := service.NextVersion(tc.cur, tc.deleted); got != tc.want {
				t.Errorf("NextVersion = %d, want %d", got, tc.want)
			}
		})
	}
}

// recorder is a write rule that records the version numbers it is told.
type recorder struct {
	mu  sync.Mutex
	got []int64
}

func (r *recorder) BeforeWrite(_ context.Context, op *service.WriteOp, _ service.View) error {
	r.mu.Lock()
	r.got = append(r.got, op.Version)
	r.mu.Unlock()
	return nil
}

func mustService(t *testing.T, rules service.WriteInterceptor) *service.Service {
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
	svc, err := service.New(service.Config{Store: st, Registry: reg, WriteInterceptor: rules})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestWriteNumbersVersionsOnce: the rules are told the version the write
// stores, including after a deletion, and it is the version stored.
func TestWriteNumbersVersionsOnce(t *testing.T) {
	rec := &recorder{}
	svc := mustService(t, rec)
	ctx := context.Background()
	put := func() *service.Result {
		t.Helper()
		r, err := svc.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "Patient", ID: "p1", CreateOnMissing: true,
			Resource: map[string]any{"resourceType": "Patient", "id": "p1"}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var outcomes []service.Outcome
	var stored []int64
	for range 2 {
		r := put()
		outcomes, stored = append(outcomes, r.Outcome), append(stored, r.Version.VersionID)
	}
	r, err := svc.Write(ctx, &service.Write{Interaction: "delete", Method: "DELETE", Type: "Patient", ID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	outcomes, stored = append(outcomes, r.Outcome), append(stored, r.Version.VersionID)
	r = put()
	outcomes, stored = append(outcomes, r.Outcome), append(stored, r.Version.VersionID)

	if diff := cmp.Diff([]service.Outcome{service.Created, service.Updated, service.Deleted, service.Created}, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	want := []int64{1, 2, 3, 4}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("stored versions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, rec.got); diff != "" {
		t.Errorf("versions the rules were told (-want +got):\n%s", diff)
	}
}

// TestConcurrentUpdatesAllWin: racing updates of one resource are retried
// until each has written its version; none answers a conflict.
func TestConcurrentUpdatesAllWin(t *testing.T) {
	svc := mustService(t, nil)
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = svc.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "Patient", ID: "p1", CreateOnMissing: true,
				Resource: map[string]any{"resourceType": "Patient", "id": "p1"}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	v, err := svc.Store().Read(ctx, "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	if v.VersionID != n {
		t.Errorf("versionId %d, want %d", v.VersionID, n)
	}
}

// TestTransactionSeesEarlierEntries: a rule preparing a transaction entry
// sees the entries prepared before it through its View, not the context.
func TestTransactionSeesEarlierEntries(t *testing.T) {
	saw := map[string]bool{}
	var mu sync.Mutex
	rules := ruleFunc(func(_ context.Context, op *service.WriteOp, view service.View) error {
		if op.Type == "Observation" {
			ref := op.Resource["subject"].(map[string]any)["reference"].(string)
			_, ok := view.Version("Patient", ref[len("Patient/"):])
			mu.Lock()
			saw[ref] = ok
			mu.Unlock()
		}
		return nil
	})
	svc := mustService(t, rules)
	res, err := svc.Transaction(context.Background(), []*service.Entry{
		{Index: 0, Method: "POST", Type: "Observation", Resource: map[string]any{"resourceType": "Observation", "status": "final",
			"code": map[string]any{"text": "x"}, "subject": map[string]any{"reference": "urn:uuid:6f1f0e4e-0000-4000-8000-000000000001"}}},
		{Index: 1, Method: "POST", Type: "Patient", FullURL: "urn:uuid:6f1f0e4e-0000-4000-8000-000000000001", Resource: map[string]any{"resourceType": "Patient"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Outcome != service.Created || res[1].Outcome != service.Created {
		t.Fatalf("results %+v", res)
	}
	want := map[string]bool{"Patient/" + res[1].Version.ID: true}
	if diff := cmp.Diff(want, saw); diff != "" {
		t.Errorf("what the Observation's rule saw (-want +got):\n%s", diff)
	}
}

type ruleFunc func(ctx context.Context, op *service.WriteOp, view service.View) error

func (f ruleFunc) BeforeWrite(ctx context.Context, op *service.WriteOp, view service.View) error {
	return f(ctx, op, view)
}

// TestExtraResourcesGoThroughThePipeline: a resource a write rule adds is
// numbered, stamped and indexed by the pipeline, in the same write.
func TestExtraResourcesGoThroughThePipeline(t *testing.T) {
	rules := ruleFunc(func(_ context.Context, op *service.WriteOp, _ service.View) error {
		if op.Type == "Patient" {
			op.Extra = append(op.Extra, map[string]any{"resourceType": "Provenance", "id": "prov-" + op.ID,
				"target":   []any{map[string]any{"reference": "Patient/" + op.ID}},
				"recorded": "2026-01-01T00:00:00Z", "agent": []any{map[string]any{"who": map[string]any{"display": "x"}}}})
		}
		return nil
	})
	svc := mustService(t, rules)
	ctx := context.Background()
	r, err := svc.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "Patient", ID: "p1", CreateOnMissing: true,
		Resource: map[string]any{"resourceType": "Patient", "id": "p1"}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := svc.Store().Read(ctx, "Provenance", "prov-p1")
	if err != nil {
		t.Fatal(err)
	}
	type stamp struct {
		Version int64
		At      string
	}
	if diff := cmp.Diff(stamp{1, r.Version.LastUpdated.String()}, stamp{v.VersionID, v.LastUpdated.String()}); diff != "" {
		t.Errorf("the Provenance's version and time (-want +got):\n%s", diff)
	}
	found, err := svc.Find(ctx, "Provenance", "target=Patient/p1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].ID != "prov-p1" {
		t.Errorf("Provenance?target=Patient/p1 found %d, want the one the rule added (its index entries)", len(found))
	}
}

// TestBundleBatch: a batch's write entries run one by one, conditional
// forms included, and a bad entry fails alone.
func TestBundleBatch(t *testing.T) {
	svc := mustService(t, nil)
	ctx := context.Background()
	patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/gender","value":"female"}]`))
	batch := func(entries ...string) []service.EntryResult {
		t.Helper()
		b, err := resource.Parse([]byte(`{"resourceType":"Bundle","type":"batch","entry":[` + strings.Join(entries, ",") + `]}`))
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.Bundle(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	type got struct {
		Outcome service.Outcome
		Failed  bool
	}
	summary := func(rs []service.EntryResult) []got {
		var out []got
		for _, r := range rs {
			out = append(out, got{r.Outcome, r.Err != nil})
		}
		return out
	}
	cond := `"request":{"method":"PUT","url":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"}`
	pat := `{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]}`
	first := batch(`{"resource":`+pat+`,`+cond+`}`, `{"resource":{"resourceType":"Observation"},"request":{"method":"POST","url":"Patient"}}`)
	if diff := cmp.Diff([]got{{service.Created, false}, {0, true}}, summary(first)); diff != "" {
		t.Errorf("first batch (-want +got):\n%s", diff)
	}
	id := first[0].Version.ID
	second := batch(`{"resource":`+pat+`,`+cond+`}`,
		`{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+patch+`"},"request":{"method":"PATCH","url":"Patient/`+id+`"}}`,
		`{"request":{"method":"DELETE","url":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"}}`,
		`{"request":{"method":"DELETE","url":"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"}}`)
	if diff := cmp.Diff([]got{{service.Updated, false}, {service.Updated, false}, {service.Deleted, false}, {service.NoOp, false}}, summary(second)); diff != "" {
		t.Errorf("second batch (-want +got):\n%s", diff)
	}
	if second[1].Version == nil || !strings.Contains(string(second[1].Version.JSON), `"gender":"female"`) {
		t.Errorf("the patched version does not have the patch applied")
	}
}
