package main

import (
	"bytes"
	"context"
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
	"ucp/internal/resttest"
)

// TestLinkCommand runs `ucp link` against a --dev server: the link it
// prints opens the demo patient signed in, and the launch is audited.
func TestLinkCommand(t *testing.T) {
	dir := t.TempDir()
	srv := serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3})
	link := func(args ...string) (string, int, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"link", "--server", srv.base, "--key", devLauncherKeyFile(dir)}, args...), &out, &errb)
		return strings.TrimSpace(out.String()), code, errb.String()
	}
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	open := func(u string) (*http.Response, string) {
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	bearer = token(t, srv, auth.RoleClinical)
	defer func() { bearer = "" }()
	_, bundle := get(t, srv.base+"/Patient?identifier="+url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|"+demoNHS))
	joan := resttest.Str(resttest.Path(bundle, "entry.0.resource.id"))
	if joan == "" {
		t.Fatal("no demo patient")
	}

	u, code, stderr := link("--nhs", demoNHS)
	if code != 0 || !strings.HasPrefix(u, publicOrigin(srv.base)+"/launch/link?token=") {
		t.Fatalf("ucp link: exit %d, %q, %s", code, u, stderr)
	}
	resp, body := open(u)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/patients/"+joan {
		t.Fatalf("the link answered %d to %q, want 303 to /app/patients/%s:\n%s", resp.StatusCode, resp.Header.Get("Location"), joan, body)
	}
	c := resp.Cookies()
	if len(c) != 1 || !c[0].HttpOnly || c[0].Value == "" {
		t.Errorf("session cookie: %v", c)
	}
	if resp, _ := open(u); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the link worked twice: %d", resp.StatusCode)
	}

	// An organisation without an agreement is refused, in words.
	u, code, stderr = link("--nhs", demoNHS, "--role", "view", "--org", "Y12345")
	if code != 0 {
		t.Fatalf("ucp link: exit %d: %s", code, stderr)
	}
	if resp, body := open(u); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "no information-sharing agreement") {
		t.Errorf("no agreement: %d\n%s", resp.StatusCode, body)
	}

	// Each launch is an AuditEvent on the patient, searchable by the
	// operator's admins.
	if _, err := srv.audit.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	bearer = token(t, srv, auth.RoleAdmin)
	_, events := get(t, srv.base+"/AuditEvent?patient=Patient/"+joan+"&_count=100")
	var logins []string
	for _, e := range resttest.Path(events, "entry").([]any) {
		ev := e.(map[string]any)["resource"].(map[string]any)
		if resttest.Str(resttest.Path(ev, "type.code")) == "110114" {
			logins = append(logins, resttest.Str(ev["outcome"]))
		}
	}
	if len(logins) != 1 || logins[0] != "0" {
		t.Errorf("login AuditEvents on the patient: outcomes %v, want [0]", logins)
	}

	if _, code, _ := link("--nhs", "1234567890"); code != 2 {
		t.Errorf("a bad NHS number: exit %d, want 2", code)
	}
}

// TestDevSignInThroughTheRelyingParty signs a patient in on a --dev
// server through its OpenID Connect relying party and the development
// issuer's code flow, as NHS login would: they land on their own plan.
func TestDevSignInThroughTheRelyingParty(t *testing.T) {
	dir := t.TempDir()
	srv := serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3})
	root := publicOrigin(srv.base)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	step := func(method, u string, form url.Values) (*http.Response, string) {
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
	resp, _ := step("GET", root+"/auth/oidc/dev-patient/start", nil)
	authorize := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(authorize, root+"/dev-issuer/authorize?") {
		t.Fatalf("start: %d to %q", resp.StatusCode, authorize)
	}
	_, form := step("GET", authorize, nil)
	f := url.Values{"role": {"patient"}, "user": {"nhs-login-joan"}, "name": {"Joan Smith"}, "nhs_number": {demoNHS}}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(form, -1) {
		f.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	resp, _ = step("POST", strings.Split(authorize, "?")[0], f)
	resp, body := step("GET", resp.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/app/patients/") {
		t.Fatalf("callback: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	bearer = token(t, srv, auth.RoleClinical)
	defer func() { bearer = "" }()
	_, bundle := get(t, srv.base+"/Patient?identifier="+url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|"+demoNHS))
	if want := "/app/patients/" + resttest.Str(resttest.Path(bundle, "entry.0.resource.id")); resp.Header.Get("Location") != want {
		t.Errorf("landed on %q, want %q (their own record)", resp.Header.Get("Location"), want)
	}
}
