package rest_test

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/bundles.json from the server's answers")

// TestBundleGolden pins the JSON of the Bundles the server authors (a
// searchset with an include and paging, a history, a batch response with a
// read, a refusal and a write, a transaction response) as typed values
// write them: the clock and the cursor key are fixed, and the Bundle ids
// (new every time) and the server's address are normalised.
func TestBundleGolden(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ts := mustServer(t, func(c *restConfig) {
		c.Now = func() time.Time { return at }
		c.CursorKey = []byte(strings.Repeat("g", 32))
	})
	ts.do(t, "PUT", "/Patient/g1", `{"resourceType":"Patient","id":"g1","name":[{"family":"One"}]}`).want(t, http.StatusCreated)
	ts.do(t, "PUT", "/Patient/g2", `{"resourceType":"Patient","id":"g2","name":[{"family":"Two"}]}`).want(t, http.StatusCreated)
	ts.do(t, "PUT", "/Patient/g1", `{"resourceType":"Patient","id":"g1","name":[{"family":"Uno"}]}`).want(t, http.StatusOK)
	ts.do(t, "PUT", "/Observation/o1", `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"pulse"},"subject":{"reference":"Patient/g1"}}`).want(t, http.StatusCreated)

	got := map[string]any{}
	keep := func(name string, r *resp) {
		t.Helper()
		body := strings.ReplaceAll(string(r.Body), ts.base, "BASE")
		var b map[string]any
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if id, _ := b["id"].(string); len(id) != 36 {
			t.Errorf("%s: Bundle id %q, want a UUID", name, id)
		}
		delete(b, "id")
		got[name] = b
	}
	keep("searchset with include", ts.do(t, "GET", "/Observation?_include=Observation:subject").want(t, http.StatusOK))
	keep("searchset paged", ts.do(t, "GET", "/Patient?_count=1&_total=accurate&_sort=_id").want(t, http.StatusOK))
	keep("history", ts.do(t, "GET", "/Patient/g1/_history").want(t, http.StatusOK))
	keep("batch-response", ts.do(t, "POST", "/", `{"resourceType":"Bundle","type":"batch","entry":[
		{"request":{"method":"GET","url":"Patient/g2"}},
		{"request":{"method":"GET","url":"Patient/nobody"}},
		{"resource":{"resourceType":"Patient","id":"g3"},"request":{"method":"PUT","url":"Patient/g3"}}]}`).want(t, http.StatusOK))
	keep("transaction-response", ts.do(t, "POST", "/", `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient","id":"g4"},"request":{"method":"PUT","url":"Patient/g4"}},
		{"resource":{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"bp"},"subject":{"reference":"Patient/g4"}},"request":{"method":"PUT","url":"Observation/o2"}}]}`).want(t, http.StatusOK))

	path := filepath.Join("testdata", "bundles.json")
	if *updateGolden {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("server-authored Bundles (-want +got):\n%s", diff)
	}
}
