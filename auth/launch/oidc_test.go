package launch_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/auth/authstate"
	"ucp/auth/devissuer"
	"ucp/auth/launch"
	"ucp/internal/resttest"
)

// newOIDCHarness serves the doors with two sign-in providers, both the
// development issuer's authorization code flow: "staff" (client secret,
// ID tokens mapped by an auth.Verifier as Bearer tokens are) and
// "patient" (private_key_jwt, people named by nhs_number, as NHS login).
func newOIDCHarness(t *testing.T) *harness {
	t.Helper()
	key, err := auth.NewSigningKey("RS384")
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessOn(t, func(h http.Handler) string { return resttest.Serve(t, h).URL }, false, nil,
		func(c *launch.Config, dev *devissuer.Issuer, state *authstate.Store) {
			ic := auth.IssuerConfig{URL: dev.URL(), Audience: "ucp-staff", Roles: auth.DevRoleMap(), KeySet: dev.Key().KeySet()}
			staff, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{ic}, MinIDAssurance: 3})
			if err != nil {
				t.Fatal(err)
			}
			c.Staff, c.Pending, c.Origin = staff, state, strings.TrimSuffix(c.LinkURL, "/launch/link")
			c.SignIn = []*launch.SignInProvider{
				{Name: "staff", Label: "Sign in with NHS CIS2 (staff)", Issuer: dev.URL(), ClientID: "ucp-staff", ClientSecret: "dev-secret", Scopes: []string{"profile"}},
				{Name: "patient", Label: "Sign in with NHS login (patients)", Issuer: dev.URL(), ClientID: "ucp-patient", Key: key, Patients: true},
			}
		})
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// signInWith runs a sign-in at the provider for c: start, the provider's
// login form filled with who, and back; it returns the callback's answer
// and the callback URL.
func signInWith(t *testing.T, h *harness, c *http.Client, provider, returnTo string, who url.Values) (answer, string) {
	t.Helper()
	start := h.root + "/auth/oidc/" + provider + "/start"
	if returnTo != "" {
		start += "?return_to=" + url.QueryEscape(returnTo)
	}
	a := do(t, c, "GET", start, nil)
	if a.status != http.StatusSeeOther {
		t.Fatalf("start: %d\n%s", a.status, a.body)
	}
	authorize := a.location
	u, _ := url.Parse(authorize)
	for _, k := range []string{"code_challenge", "nonce", "state"} {
		if u.Query().Get(k) == "" {
			t.Fatalf("the authorization request has no %s: %s", k, authorize)
		}
	}
	if u.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("PKCE method %q, want S256", u.Query().Get("code_challenge_method"))
	}
	form := do(t, c, "GET", authorize, nil)
	f := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(form.body, -1) {
		f.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	for k, v := range who {
		f[k] = v
	}
	back := do(t, c, "POST", strings.Split(authorize, "?")[0], f)
	if back.status != http.StatusSeeOther || !strings.Contains(back.location, "/auth/oidc/"+provider+"/callback") {
		t.Fatalf("the provider answered %d to %q", back.status, back.location)
	}
	return do(t, c, "GET", back.location, nil), back.location
}

func TestOIDCSignIn(t *testing.T) {
	h := newOIDCHarness(t)
	for _, tc := range []struct {
		name, provider, returnTo string
		who                      url.Values
		status                   int
		landing                  string // the landing page's words, for a 303
		says                     string // the page's words otherwise
	}{
		{"clinician, back to the page they wanted", "staff", "/app/patients/{patient}",
			url.Values{"role": {"clinical"}, "user": {"555000111"}, "name": {"Dr Cis Two"}, "org": {"F84012"}},
			303, "signed in as Dr Cis Two (clinical, F84012) on Patient/{patient}", ""},
		{"urgent care, no patient yet", "staff", "",
			url.Values{"role": {"view"}, "user": {"555000112"}, "name": {"Para Medic"}, "org": {"F84012"}}, 303, "", ""},
		{"organisation without an agreement", "staff", "",
			url.Values{"role": {"clinical"}, "user": {"555000113"}, "name": {"Dr Elsewhere"}, "org": {"Y99999"}}, 403, "", "no information-sharing agreement"},
		{"patient, bound to their own record", "patient", "/app/patients/someone-else",
			url.Values{"role": {"patient"}, "user": {"nhs-login-1"}, "name": {"Ann Smith"}, "nhs_number": {nhsJoan}},
			303, "signed in as Ann Smith (patient, ) on Patient/{patient}", ""},
		{"patient ucp holds no record of", "patient", "",
			url.Values{"role": {"patient"}, "user": {"nhs-login-2"}, "name": {"Bob"}, "nhs_number": {nhsUnknown}}, 404, "", "no care plan for you"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t)
			before := h.events.count()
			a, _ := signInWith(t, h, c, tc.provider, strings.ReplaceAll(tc.returnTo, "{patient}", h.patient), tc.who)
			if a.status != tc.status {
				t.Fatalf("callback: %d, want %d\n%s", a.status, tc.status, a.body)
			}
			if h.events.count() != before+1 {
				t.Errorf("%d AuditEvents, want 1", h.events.count()-before)
			}
			if tc.status != 303 {
				if !strings.Contains(a.body, tc.says) {
					t.Errorf("page does not say %q:\n%s", tc.says, a.body)
				}
				return
			}
			if tc.landing == "" {
				if a.location != "/auth/patient" {
					t.Errorf("to %q, want the patient picker", a.location)
				}
				return
			}
			got := do(t, c, "GET", h.root+a.location, nil)
			if want := strings.ReplaceAll(tc.landing, "{patient}", h.patient); got.body != want {
				t.Errorf("landing %q, want %q", got.body, want)
			}
		})
	}
}

func TestOIDCCallbackRefusals(t *testing.T) {
	h := newOIDCHarness(t)
	who := url.Values{"role": {"clinical"}, "user": {"555000111"}, "name": {"Dr Cis Two"}, "org": {"F84012"}}
	c := client(t)
	a, callback := signInWith(t, h, c, "staff", "", who)
	if a.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", a.status)
	}
	t.Run("the same callback again", func(t *testing.T) {
		if a := do(t, client(t), "GET", callback, nil); a.status != http.StatusBadRequest {
			t.Errorf("%d, want 400", a.status)
		}
	})
	t.Run("another browser's sign-in", func(t *testing.T) {
		// An attacker's own callback URL, opened in the victim's browser,
		// must not sign the victim in as the attacker.
		attacker := client(t)
		start := do(t, attacker, "GET", h.root+"/auth/oidc/staff/start", nil)
		form := do(t, attacker, "GET", start.location, nil)
		f := url.Values{}
		for _, m := range hiddenField.FindAllStringSubmatch(form.body, -1) {
			f.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		for k, v := range who {
			f[k] = v
		}
		back := do(t, attacker, "POST", strings.Split(start.location, "?")[0], f)
		victim := client(t)
		if a := do(t, victim, "GET", back.location, nil); a.status != http.StatusBadRequest {
			t.Errorf("%d, want 400", a.status)
		}
	})
	t.Run("the provider refused", func(t *testing.T) {
		if a := do(t, client(t), "GET", h.root+"/auth/oidc/staff/callback?error=access_denied&state=x", nil); a.status != http.StatusUnauthorized {
			t.Errorf("%d, want 401", a.status)
		}
	})
	t.Run("unknown provider", func(t *testing.T) {
		if a := do(t, client(t), "GET", h.root+"/auth/oidc/nobody/start", nil); a.status != http.StatusNotFound {
			t.Errorf("%d, want 404", a.status)
		}
	})
}
