package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"ucp/auth"
	"ucp/auth/devissuer"
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

// TestTwoServersShareCursorsAndSessions starts two servers on one
// PostgreSQL database, neither given --cursor-key-file, and checks what
// they share through it: a paging cursor handed out by one opens on the
// other (the key is kept in the database), and a browser session started
// on one is signed in on the other (the sign-in state is there too). Both
// trust one issuer, as nodes behind one address trust CIS2: a cursor is
// bound to its caller, the issuer included.
func TestTwoServersShareCursorsAndSessions(t *testing.T) {
	db, ok := resttest.PostgresURL(t)
	if !ok {
		t.Skip("against PostgreSQL only (make test-postgres)")
	}
	mux := http.NewServeMux()
	issSrv := httptest.NewServer(mux)
	t.Cleanup(issSrv.Close)
	const aud = "ucp-two-nodes"
	iss, err := devissuer.New(devissuer.Config{Issuer: issSrv.URL + "/dev-issuer", Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/dev-issuer/", iss)
	roles := filepath.Join(t.TempDir(), "roles.json")
	if err := os.WriteFile(roles, []byte(`{"codes": {"R8000": "clinical"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	node := func(name string) *server {
		return serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: db, DataDir: filepath.Join(t.TempDir(), name), MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
			Issuers: []string{iss.URL()}, Audiences: []string{aud}, RolesFile: roles})
	}
	a, b := node("a"), node("b")
	minted, err := iss.Mint(devissuer.TokenRequest{Role: auth.RoleClinical, RoleCode: "R8000"})
	if err != nil {
		t.Fatal(err)
	}
	tokA, tokB := minted.AccessToken, minted.AccessToken

	for i := range 3 {
		body := fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"Cursor%d"}]}`, i)
		if code, _, got := call(t, http.MethodPost, a.base+"/Patient", tokA, []byte(body), "Content-Type: application/fhir+json"); code != http.StatusCreated {
			t.Fatalf("create on a: %d %s", code, got)
		}
	}
	code, _, got := call(t, http.MethodGet, a.base+"/Patient?_count=1&_sort=family", tokA, nil)
	if code != http.StatusOK {
		t.Fatalf("search on a: %d %s", code, got)
	}
	var page struct {
		Link []struct{ Relation, URL string }
	}
	if err := json.Unmarshal(got, &page); err != nil {
		t.Fatal(err)
	}
	next := ""
	for _, l := range page.Link {
		if l.Relation == "next" {
			next = l.URL
		}
	}
	if !strings.HasPrefix(next, a.base+"/") {
		t.Fatalf("no next link on a's first page: %s", got)
	}
	code, _, got = call(t, http.MethodGet, b.base+strings.TrimPrefix(next, a.base), tokB, nil)
	if code != http.StatusOK || !strings.Contains(string(got), `"Cursor1"`) {
		t.Errorf("a's next page asked of b: %d %s; want 200 with the second patient", code, got)
	}

	// Sign in on a through the development form; the session cookie is
	// then sent to b (a cookie is the host's, whatever the port).
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fetch := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	rootA, rootB := publicOrigin(a.base), publicOrigin(b.base)
	if code, _ := fetch(c.Get(rootB + "/auth/patient")); code != http.StatusSeeOther {
		t.Fatalf("b's patient picker before sign-in: %d, want 303 to the sign-in page", code)
	}
	_, form := fetch(c.Get(rootA + "/auth/signin"))
	f := url.Values{"role": {"clinical"}, "user": {"dev-user"}, "name": {"Dr Two Node"}, "org": {"F84012"}}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(form, -1) {
		f.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if code, body := fetch(c.PostForm(rootA+"/auth/signin/dev", f)); code != http.StatusSeeOther {
		t.Fatalf("sign-in on a: %d\n%s", code, body)
	}
	if code, body := fetch(c.Get(rootB + "/auth/patient")); code != http.StatusOK || !strings.Contains(body, "Which patient?") {
		t.Errorf("b's patient picker after signing in on a: %d\n%s\nwant 200, signed in", code, body)
	}
}

// TestTwoServersConsentWithdrawn withdraws consent on one node and reads on
// the other: the plan is hidden there at once. Consent is read from the
// store on every read, with no cache a node could hold stale (the memo of
// plan heads is keyed by version, which never changes).
func TestTwoServersConsentWithdrawn(t *testing.T) {
	db, ok := resttest.PostgresURL(t)
	if !ok {
		t.Skip("against PostgreSQL only (make test-postgres)")
	}
	a := serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: db, DataDir: filepath.Join(t.TempDir(), "a"), Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3})
	b := serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: db, DataDir: filepath.Join(t.TempDir(), "b"), MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3})
	clinical, view := token(t, a, auth.RoleClinical), token(t, b, auth.RoleView)
	patient := joanID(t, a, clinical)
	plans := func() any {
		r := resttest.Do(t, http.MethodGet, b.base+"/CarePlan?subject=Patient/"+patient+"&_summary=count", "", resttest.Bearer(view)).Want(t, http.StatusOK)
		return resttest.Path(r.JSON(t), "total")
	}
	if got := fmt.Sprint(plans()); got != "1" {
		t.Fatalf("the demo patient's plans seen by urgent care on b: %s, want 1", got)
	}
	consent := `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
		`"category":[{"coding":[{"system":"http://snomed.info/sct","code":"882941000000102"}]}],"patient":{"reference":"Patient/` + patient + `"},` +
		`"dateTime":"2026-12-01T09:00:00Z","policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"type":"deny"}}`
	resttest.Do(t, http.MethodPost, a.base+"/Consent", consent, resttest.Bearer(clinical)).Want(t, http.StatusCreated)
	if got := fmt.Sprint(plans()); got != "0" {
		t.Errorf("plans seen on b after consent was withdrawn on a: %s, want 0", got)
	}
}
