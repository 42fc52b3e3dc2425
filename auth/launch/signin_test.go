package launch_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// formToken GETs a page and returns the CSRF token of its form.
func formToken(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	a := do(t, c, "GET", u, nil)
	m := csrfField.FindStringSubmatch(a.body)
	if a.status != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %d, no form:\n%s", u, a.status, a.body)
	}
	return m[1]
}

func TestDevSignIn(t *testing.T) {
	h := newHarness(t)
	signin := h.root + "/auth/signin"
	for _, tc := range []struct {
		name     string
		form     url.Values
		status   int
		location string // for a 303
		landing  string // what the landing page then says
		says     string // for a refusal
	}{
		{"clinician on a patient", url.Values{"role": {"clinical"}, "user": {"u1"}, "name": {"Dr Dev"}, "org": {"F84012"}, "nhs_number": {"943 476 5919"}},
			303, "/app/patients/{patient}", "signed in as Dr Dev (clinical, F84012) on Patient/{patient}", ""},
		{"urgent care, patient picked next", url.Values{"role": {"view"}, "user": {"u2"}, "name": {"Paramedic Dev"}, "org": {"F84012"}},
			303, "/auth/patient", "", ""},
		{"back to where they were going", url.Values{"role": {"view"}, "user": {"u2"}, "name": {"Paramedic Dev"}, "org": {"F84012"}, "return_to": {"/app/patients/{patient}"}},
			303, "/app/patients/{patient}", "", ""},
		{"never to another site", url.Values{"role": {"view"}, "user": {"u2"}, "name": {"P"}, "org": {"F84012"}, "return_to": {"//evil.example/"}},
			303, "/app/", "", ""},
		{"patient on their own record", url.Values{"role": {"patient"}, "user": {"p1"}, "name": {"Ann Smith"}, "nhs_number": {nhsJoan}},
			303, "/app/patients/{patient}", "signed in as Ann Smith (patient, ) on Patient/{patient}", ""},
		{"patient without an NHS number", url.Values{"role": {"patient"}, "user": {"p1"}, "name": {"Ann Smith"}}, 400, "", "", "enter their NHS number"},
		{"unknown NHS number", url.Values{"role": {"clinical"}, "user": {"u1"}, "name": {"Dr Dev"}, "org": {"F84012"}, "nhs_number": {nhsUnknown}}, 404, "", "", "no record for NHS number 943 476 5870"},
		{"bad NHS number", url.Values{"role": {"clinical"}, "user": {"u1"}, "name": {"Dr Dev"}, "org": {"F84012"}, "nhs_number": {"1234567890"}}, 400, "", "", "correct check digit"},
		{"reporting, to the dashboard", url.Values{"role": {"report"}, "user": {"r1"}, "name": {"Commissioner Dev"}, "org": {"X24"}},
			303, "/app/dashboard", "", ""},
		{"system role", url.Values{"role": {"system"}, "user": {"u1"}, "name": {"x"}, "org": {"F84012"}}, 400, "", "", "choose a role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t)
			f := url.Values{}
			for k, v := range tc.form {
				f[k] = []string{strings.ReplaceAll(v[0], "{patient}", h.patient)}
			}
			f.Set("csrf_token", formToken(t, c, signin))
			a := do(t, c, "POST", h.root+"/auth/signin/dev", f)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d:\n%s", a.status, tc.status, a.body)
			}
			if tc.status != 303 {
				if !strings.Contains(a.body, tc.says) || !strings.Contains(a.body, "DEVELOPMENT") {
					t.Errorf("page does not say %q under the development banner:\n%s", tc.says, a.body)
				}
				return
			}
			if want := strings.ReplaceAll(tc.location, "{patient}", h.patient); a.location != want {
				t.Errorf("to %q, want %q", a.location, want)
			}
			if tc.landing != "" {
				got := do(t, c, "GET", h.root+a.location, nil)
				if want := strings.ReplaceAll(tc.landing, "{patient}", h.patient); got.body != want {
					t.Errorf("landing: %q, want %q", got.body, want)
				}
			}
		})
	}
}

func TestDevSignInNeedsItsCSRFToken(t *testing.T) {
	h := newHarness(t)
	c := client(t)
	tok := formToken(t, c, h.root+"/auth/signin")
	form := url.Values{"role": {"clinical"}, "user": {"u1"}, "name": {"Dr Dev"}, "org": {"F84012"}}
	for name, tc := range map[string]struct {
		c     *http.Client
		token string
	}{
		"no token":       {c, ""},
		"wrong token":    {c, tok + "x"},
		"another's form": {client(t), tok}, // a browser without the form cookie
	} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			f.Set("csrf_token", tc.token)
			if a := do(t, tc.c, "POST", h.root+"/auth/signin/dev", f); a.status != http.StatusForbidden {
				t.Errorf("status %d, want 403", a.status)
			}
		})
	}
}

// signIn signs c in on the development page as a staff member with no
// patient.
func signIn(t *testing.T, h *harness, c *http.Client, role string) {
	t.Helper()
	f := url.Values{"role": {role}, "user": {"u1"}, "name": {"Dr Dev"}, "org": {"F84012"}, "csrf_token": {formToken(t, c, h.root+"/auth/signin")}}
	if a := do(t, c, "POST", h.root+"/auth/signin/dev", f); a.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%s", a.status, a.body)
	}
}

func TestPickPatient(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, role, nhs string
		status          int
		says            string
	}{
		{"found", "view", "943 476 5919", 303, ""},
		{"not valid", "view", "12345", 400, "correct check digit"},
		{"no record, urgent care", "view", nhsUnknown, 404, "no care plan for this patient"},
		{"no record, clinician", "clinical", nhsUnknown, 404, "Create a plan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t)
			signIn(t, h, c, tc.role)
			tok := formToken(t, c, h.root+"/auth/patient")
			a := do(t, c, "POST", h.root+"/auth/patient", url.Values{"nhs_number": {tc.nhs}, "csrf_token": {tok}})
			if a.status != tc.status || !strings.Contains(a.body, tc.says) {
				t.Fatalf("%d, want %d saying %q:\n%s", a.status, tc.status, tc.says, a.body)
			}
			if tc.status == 303 {
				if got := do(t, c, "GET", h.root+a.location, nil); !strings.HasSuffix(got.body, "on Patient/"+h.patient) {
					t.Errorf("landing: %q", got.body)
				}
			}
			if tc.role == "view" && strings.Contains(a.body, "Create a plan") {
				t.Error("urgent care offered to create a plan")
			}
		})
	}
	t.Run("forged", func(t *testing.T) {
		c := client(t)
		signIn(t, h, c, "view")
		if a := do(t, c, "POST", h.root+"/auth/patient", url.Values{"nhs_number": {nhsJoan}}); a.status != http.StatusForbidden {
			t.Errorf("without the CSRF token: %d, want 403", a.status)
		}
	})
}

func TestSignOut(t *testing.T) {
	h := newHarness(t)
	c := client(t)
	a := do(t, c, "GET", h.linkURL+"?token="+url.QueryEscape(h.sign(t, joanClaims())), nil)
	landing := h.root + a.location
	if got := do(t, c, "GET", landing, nil); got.status != http.StatusOK {
		t.Fatalf("not signed in: %d", got.status)
	}
	// A forged sign-out (no token) changes nothing.
	if got := do(t, c, "POST", h.root+"/auth/signout", url.Values{}); got.status != http.StatusForbidden {
		t.Errorf("forged sign-out: %d, want 403", got.status)
	}
	if got := do(t, c, "GET", landing, nil); got.status != http.StatusOK {
		t.Fatalf("a forged sign-out ended the session: %d", got.status)
	}
	tok := formToken(t, c, h.root+"/auth/signout")
	if got := do(t, c, "POST", h.root+"/auth/signout", url.Values{"csrf_token": {tok}}); got.status != http.StatusOK || !strings.Contains(got.body, "You are signed out") {
		t.Fatalf("sign-out: %d\n%s", got.status, got.body)
	}
	if ev := h.events.last(t); ev.Subtype[0].Code != "110123" || ev.Entity[0].What.Reference != "Patient/"+h.patient {
		t.Errorf("sign-out AuditEvent: %s", ev.JSON())
	}
	if got := do(t, c, "GET", landing, nil); got.status != http.StatusSeeOther || !strings.HasPrefix(got.location, "/auth/signin?return_to=") {
		t.Errorf("after sign-out the page answered %d to %q, want 303 to sign-in", got.status, got.location)
	}
}

// TestDevSignInProofing: the development page signs a patient in at P9 or
// P5, so the P5 path can be seen without NHS login; a form that does not
// say is P5, as a sign-in that does not say is.
func TestDevSignInProofing(t *testing.T) {
	h := newHarness(t)
	signin := h.root + "/auth/signin"
	for _, tc := range []struct {
		name, role, proofing string
		status               int
		want                 string // the session's level
	}{
		{"a verified patient", "patient", "P9", 303, "P9"},
		{"a P5 patient", "patient", "P5", 303, "P5"},
		{"a patient whose form does not say", "patient", "", 303, "P5"},
		{"a level NHS login does not have", "patient", "P7", 400, ""},
		{"staff carry none", "clinical", "P9", 303, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t)
			f := url.Values{"role": {tc.role}, "user": {"p1"}, "name": {"Ann Smith"}, "org": {"F84012"}, "nhs_number": {nhsJoan}}
			if tc.proofing != "" {
				f.Set("proofing", tc.proofing)
			}
			f.Set("csrf_token", formToken(t, c, signin))
			a := do(t, c, "POST", h.root+"/auth/signin/dev", f)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d:\n%s", a.status, tc.status, a.body)
			}
			if tc.status != 303 {
				return
			}
			s, ok := h.session(t, c)
			if !ok {
				t.Fatal("no session")
			}
			if got := s.Launch.User.IdentityProofing; got != tc.want {
				t.Errorf("session proofing %q, want %q", got, tc.want)
			}
		})
	}
}
