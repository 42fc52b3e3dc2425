package main

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/auth/launch"
	"ucp/auth/launch/nhslogintest"
	"ucp/internal/resttest"
)

// TestNHSLoginFlags signs patients in to ucp serve through NHS login, as
// --nhslogin-issuer, --nhslogin-client-id and --nhslogin-key configure it,
// against the stand-in NHS login: a P9 patient sees their plan, a P5
// patient is refused it until they step up to P9.
func TestNHSLoginFlags(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "nhslogin-key.pem")
	key, err := auth.LoadOrCreateSigningKey(keyFile, launch.NHSLoginAlgorithm)
	if err != nil {
		t.Fatal(err)
	}
	op := nhslogintest.Start(t, nil,
		nhslogintest.User{Sub: "joan-p9", NHSNumber: demoNHS, Proofing: "P9", GivenName: "Joan", FamilyName: "Smith", Birthdate: demoBirthDate},
		nhslogintest.User{Sub: "joan-p5", NHSNumber: demoNHS, Proofing: "P5", GivenName: "Joan", FamilyName: "Smith", Birthdate: demoBirthDate})
	// --dev only for the test's own clinician token; NHS login replaces the
	// development sign-in providers.
	srv := serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), Demo: true, MaxBody: 1 << 20, MinIDAssurance: 3, Dev: true,
		Launch: launchFlags{NHSLoginIssuer: op.URL(), NHSLoginClientID: "ucp-test", NHSLoginKeyFile: keyFile}})
	root := publicOrigin(srv.base)
	op.Register(nhslogintest.Client{ID: "ucp-test", RedirectURIs: []string{root + "/auth/oidc/nhslogin/callback"}, JWKS: key.JWKS()})

	bearer = token(t, srv, auth.RoleClinical)
	_, bundle := get(t, srv.base+"/Patient?identifier="+url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|"+demoNHS))
	bearer = ""
	joan := resttest.Str(resttest.Path(bundle, "entry.0.resource.id"))
	hidden := regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	step := func(c *http.Client, method, u string, form url.Values) (*http.Response, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if form != nil {
			resp, err = c.PostForm(u, form)
		} else {
			resp, err = c.Get(u)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	signIn := func(c *http.Client, start, who string) string {
		t.Helper()
		resp, _ := step(c, "GET", root+start, nil)
		authorize := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(authorize, op.URL()+"/authorize?") {
			t.Fatalf("start: %d to %q", resp.StatusCode, authorize)
		}
		_, form := step(c, "GET", authorize, nil)
		f := url.Values{"user": {who}}
		for _, m := range hidden.FindAllStringSubmatch(form, -1) {
			f.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		resp, _ = step(c, "POST", strings.Split(authorize, "?")[0], f)
		resp, body := step(c, "GET", resp.Header.Get("Location"), nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("callback: %d\n%s", resp.StatusCode, body)
		}
		return resp.Header.Get("Location")
	}
	plan := func(c *http.Client) int {
		resp, _ := step(c, "GET", root+"/app/patients/"+joan, nil)
		return resp.StatusCode
	}

	p9 := browser()
	if to := signIn(p9, "/auth/oidc/nhslogin/start", "joan-p9"); to != "/app/patients/"+joan {
		t.Errorf("a P9 patient landed on %q, want their own record", to)
	}
	if got := plan(p9); got != http.StatusOK {
		t.Errorf("a P9 patient's plan: %d, want 200", got)
	}
	p5 := browser()
	signIn(p5, "/auth/oidc/nhslogin/start", "joan-p5")
	if got := plan(p5); got != http.StatusForbidden {
		t.Errorf("a P5 patient's plan: %d, want 403", got)
	}
	// Step-up: the questionnaire's warning has a button to NHS login,
	// which takes them through proving who they are, and they come back to
	// where they were, now P9.
	resp, page := step(p5, "GET", root+"/app/questionnaire", nil)
	m := regexp.MustCompile(`id="step-up-link" href="([^"]+)"`).FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("a P5 patient's questionnaire: %d, no step-up button\n%s", resp.StatusCode, page)
	}
	if link := html.UnescapeString(m[1]); link != launch.StepUpPath("nhslogin", "/app/questionnaire") {
		t.Errorf("step-up button to %q, want %q", link, launch.StepUpPath("nhslogin", "/app/questionnaire"))
	}
	if to := signIn(p5, html.UnescapeString(m[1]), "joan-p5"); to != "/app/questionnaire" {
		t.Errorf("after the step-up: to %q, want back to the questionnaire", to)
	}
	if got := plan(p5); got != http.StatusOK {
		t.Errorf("after the step-up, their plan: %d, want 200", got)
	}
}
