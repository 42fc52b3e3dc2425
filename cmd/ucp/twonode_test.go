package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"ucp/auth"
	"ucp/internal/resttest"
)

// TestTwoServersOneDatabase starts two servers on one PostgreSQL database
// (when the tests run against PostgreSQL) and checks the store's share of
// running several nodes: 50 identical conditional creates spread over both
// store one Patient, and If-Match holds across them. The servers share a
// process here, but nothing else: each has its own pool, caches and keys.
func TestTwoServersOneDatabase(t *testing.T) {
	db, ok := resttest.PostgresURL(t)
	if !ok {
		t.Skip("against PostgreSQL only (make test-postgres)")
	}
	node := func(name string) (*server, string) {
		cfg := serveConfig{Addr: "127.0.0.1:0", Store: db, DataDir: filepath.Join(t.TempDir(), name), MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
		srv := serveTest(t, cfg)
		return srv, token(t, srv, auth.RoleClinical)
	}
	a, tokA := node("a")
	b, tokB := node("b")
	nodes := []struct {
		base, tok string
	}{{a.base, tokA}, {b.base, tokB}}

	const n = 50
	body := `{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],"name":[{"family":"Twonode"}],"gender":"female","birthDate":"1940-02-03"}`
	statuses := make(chan int, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd := nodes[i%2]
			req, _ := http.NewRequest(http.MethodPost, nd.base+"/Patient", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+nd.tok)
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("If-None-Exist", "identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919")
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusOK] != n-1 {
		t.Errorf("statuses of %d conditional creates over two servers: %v; want one 201 and %d 200", n, count, n-1)
	}
	for _, nd := range nodes {
		q := url.Values{"identifier": {"https://fhir.nhs.uk/Id/nhs-number|9434765919"}, "_summary": {"count"}}
		if code, _, got := call(t, http.MethodGet, nd.base+"/Patient?"+q.Encode(), nd.tok, nil); code != 200 || !strings.Contains(string(got), `"total":1`) {
			t.Errorf("%s: patients with the NHS number: %d %s; want total 1", nd.base, code, got)
		}
	}

	// If-Match across nodes: a version written on one is the version the
	// other checks against.
	code, hdr, _ := call(t, http.MethodPost, a.base+"/Patient", tokA, []byte(`{"resourceType":"Patient","name":[{"family":"Ifmatch"}]}`), "Content-Type: application/fhir+json")
	if code != http.StatusCreated {
		t.Fatalf("create on a: %d", code)
	}
	loc := hdr.Get("Location")
	id := strings.Split(strings.TrimPrefix(loc, a.base+"/Patient/"), "/")[0]
	put := func(nd struct{ base, tok string }, version int) int {
		code, _, _ := call(t, http.MethodPut, nd.base+"/Patient/"+id, nd.tok,
			[]byte(fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"Ifmatch%d"}]}`, id, version)),
			"Content-Type: application/fhir+json", fmt.Sprintf(`If-Match: W/"%d"`, version))
		return code
	}
	if code := put(nodes[1], 1); code != http.StatusOK {
		t.Errorf("PUT If-Match 1 on b: %d, want 200", code)
	}
	if code := put(nodes[0], 1); code != http.StatusPreconditionFailed {
		t.Errorf("PUT If-Match 1 on a after b wrote version 2: %d, want 412", code)
	}
	if code := put(nodes[0], 2); code != http.StatusOK {
		t.Errorf("PUT If-Match 2 on a: %d, want 200", code)
	}
}
