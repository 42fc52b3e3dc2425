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
	"ucp/nrl"
	"ucp/nrl/nrltest"
)

// node is one server of a two-node test: its FHIR base and a token it
// accepts.
type node struct{ base, tok string }

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
	start := func(name string) node {
		cfg := serveConfig{Addr: "127.0.0.1:0", Store: db, DataDir: filepath.Join(t.TempDir(), name), MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
		srv := serveTest(t, cfg)
		return node{srv.base, token(t, srv, auth.RoleClinical)}
	}
	nodes := []node{start("a"), start("b")}
	checkConditionalCreates(t, nodes)
	checkIfMatch(t, nodes)
}

// sharedIssuer serves one development issuer that both nodes of a test
// trust, as nodes behind one address trust CIS2, and a roles file mapping
// its role code: a cursor is bound to its caller, the issuer included, so
// a token of one node's own --dev issuer would be another caller on the
// other. It returns the issuer, its audience and the roles file.
func sharedIssuer(t *testing.T) (iss *devissuer.Issuer, aud, roles string) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	aud = "ucp-two-nodes"
	iss, err := devissuer.New(devissuer.Config{Issuer: srv.URL + "/dev-issuer", Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/dev-issuer/", iss)
	roles = filepath.Join(t.TempDir(), "roles.json")
	if err := os.WriteFile(roles, []byte(`{"codes": {"R8000": "clinical"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return iss, aud, roles
}

func sharedToken(t *testing.T, iss *devissuer.Issuer) string {
	t.Helper()
	minted, err := iss.Mint(devissuer.TokenRequest{Role: auth.RoleClinical, RoleCode: "R8000"})
	if err != nil {
		t.Fatal(err)
	}
	return minted.AccessToken
}

// TestTwoServersShareCursorsAndSessions starts two servers on one
// PostgreSQL database, neither given --cursor-key-file, and checks what
// they share through it: a paging cursor handed out by one opens on the
// other (the key is kept in the database), and a browser session started
// on one is signed in on the other (the sign-in state is there too).
func TestTwoServersShareCursorsAndSessions(t *testing.T) {
	db, ok := resttest.PostgresURL(t)
	if !ok {
		t.Skip("against PostgreSQL only (make test-postgres)")
	}
	iss, aud, roles := sharedIssuer(t)
	start := func(name string) node {
		srv := serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: db, DataDir: filepath.Join(t.TempDir(), name), MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
			Issuers: []string{iss.URL()}, Audiences: []string{aud}, RolesFile: roles})
		return node{srv.base, sharedToken(t, iss)}
	}
	a, b := start("a"), start("b")
	checkCursor(t, a, b)
	checkSession(t, a, b)
}

// TestTwoProcessesOneDatabase runs the checks above on two real `ucp
// serve` processes, built from this package, on one database: nothing is
// shared but the database and the issuer they trust.
func TestTwoProcessesOneDatabase(t *testing.T) {
	db, ok := resttest.PostgresURL(t)
	if !ok {
		t.Skip("against PostgreSQL only (make test-postgres)")
	}
	iss, aud, roles := sharedIssuer(t)
	start := serveProcesses(t, db, iss.URL(), aud, roles)
	a, b := node{start("a"), sharedToken(t, iss)}, node{start("b"), sharedToken(t, iss)}
	checkConditionalCreates(t, []node{a, b})
	checkIfMatch(t, []node{a, b})
	checkCursor(t, a, b)
	checkSession(t, a, b)
}

// checkConditionalCreates sends 50 identical conditional creates spread
// over the nodes at once: one Patient is stored, and every node finds it.
func checkConditionalCreates(t *testing.T, nodes []node) {
	t.Helper()
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
			nd := nodes[i%len(nodes)]
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
}

// checkIfMatch: a version written on one node is the version the other
// checks If-Match against.
func checkIfMatch(t *testing.T, nodes []node) {
	t.Helper()
	a := nodes[0]
	code, hdr, _ := call(t, http.MethodPost, a.base+"/Patient", a.tok, []byte(`{"resourceType":"Patient","name":[{"family":"Ifmatch"}]}`), "Content-Type: application/fhir+json")
	if code != http.StatusCreated {
		t.Fatalf("create on a: %d", code)
	}
	loc := hdr.Get("Location")
	id := strings.Split(strings.TrimPrefix(loc, a.base+"/Patient/"), "/")[0]
	put := func(nd node, version int) int {
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

// checkCursor asks b for the next page of a search made on a; the caller
// is the same on both (one token).
func checkCursor(t *testing.T, a, b node) {
	t.Helper()
	for i := range 3 {
		body := fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"Cursor%d"}]}`, i)
		if code, _, got := call(t, http.MethodPost, a.base+"/Patient", a.tok, []byte(body), "Content-Type: application/fhir+json"); code != http.StatusCreated {
			t.Fatalf("create on a: %d %s", code, got)
		}
	}
	code, _, got := call(t, http.MethodGet, a.base+"/Patient?family=Cursor&_count=1&_sort=family", a.tok, nil)
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
	code, _, got = call(t, http.MethodGet, b.base+strings.TrimPrefix(next, a.base), b.tok, nil)
	if code != http.StatusOK || !strings.Contains(string(got), `"Cursor1"`) {
		t.Errorf("a's next page asked of b: %d %s; want 200 with the second patient", code, got)
	}
}

// checkSession signs in on a through the development form and sends the
// session cookie to b (a cookie is the host's, whatever the port): b's
// patient picker answers as to a signed-in user.
func checkSession(t *testing.T, a, b node) {
	t.Helper()
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

// TestTwoServersNRLPublishOnce runs the NRL publisher on two servers on one
// database while NRL is down, then brings NRL back: both publishers now
// compete for every job, and each pointer is created exactly once (a job
// is claimed by a versioned write with If-Match, which only one node's
// write can win).
func TestTwoServersNRLPublishOnce(t *testing.T) {
	db, ok := resttest.PostgresURL(t)
	if !ok {
		t.Skip("against PostgreSQL only (make test-postgres)")
	}
	sb := nrltest.Start(t)
	sb.Down(1 << 20)
	start := func(name string, demo bool) *server {
		return serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: db, DataDir: filepath.Join(t.TempDir(), name), Demo: demo, DemoPatients: 5,
			MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
			NRL: nrlConfig{URL: sb.URL, ODS: nrlODS, PracticeSetting: nrl.DefaultPracticeSetting, Horizon: nrl.DefaultHorizon, Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond}})
	}
	a := start("a", true)
	start("b", false)
	sb.Down(0)
	admin := token(t, a, auth.RoleAdmin)
	waitFor(t, "no pending NRL job", func() bool {
		r := resttest.Do(t, http.MethodGet, a.base+"/$nrl-status", "", resttest.Bearer(admin))
		return r.Status == http.StatusOK && resttest.Path(r.JSON(t), "parameter.0.valueInteger") == resttest.Num(0) &&
			resttest.Path(r.JSON(t), "parameter.1.valueInteger") == resttest.Num(0)
	})
	r := resttest.Do(t, http.MethodGet, a.base+"/Patient?_count=100", "", resttest.Bearer(token(t, a, auth.RoleClinical))).Want(t, http.StatusOK)
	pointers := 0
	for i := 0; ; i++ {
		nhs, ok := resttest.Path(r.JSON(t), fmt.Sprintf("entry.%d.resource.identifier.0.value", i)).(string)
		if !ok {
			break
		}
		pointers += len(sb.Pointers(nhs))
	}
	if pointers == 0 {
		t.Fatal("no pointer was published")
	}
	t.Logf("%d pointers published", pointers)
	if n := sb.Creates(); n != pointers {
		t.Errorf("NRL saw %d creates for %d pointers, want one create each", n, pointers)
	}
	if v := sb.Violations(); len(v) > 0 {
		t.Errorf("NRL rule violations:\n%s", strings.Join(v, "\n"))
	}
}
