package launch_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/auth/authstate"
	"ucp/auth/devissuer"
	"ucp/auth/launch"
	"ucp/auth/launch/nhslogintest"
	"ucp/auth/session"
	"ucp/internal/resttest"
)

// offsetClock is the sessions' clock: real time, moved on by the test.
type offsetClock struct {
	mu sync.Mutex
	d  time.Duration
}

func (c *offsetClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.d) }
func (c *offsetClock) Add(d time.Duration) {
	c.mu.Lock()
	c.d += d
	c.mu.Unlock()
}

// nhsLoginHarness is the doors with ucp's NHS login relying party
// (launch.NHSLogin) against the stand-in NHS login, over loopback.
type nhsLoginHarness struct {
	*harness
	op    *nhslogintest.Server
	clock *offsetClock
}

func newNHSLoginHarness(t *testing.T, serve func(http.Handler) string) *nhsLoginHarness {
	t.Helper()
	key, err := auth.NewSigningKey("RS512")
	if err != nil {
		t.Fatal(err)
	}
	nh := &nhsLoginHarness{clock: &offsetClock{}}
	nh.harness = newHarnessOn(t, serve, false, nil,
		func(c *launch.Config, _ *devissuer.Issuer, state *authstate.Store) {
			root := strings.TrimSuffix(c.LinkURL, "/launch/link")
			nh.op = nhslogintest.Start(t, []nhslogintest.Client{{ID: "ucp-test", RedirectURIs: []string{root + "/auth/oidc/nhslogin/callback"}, JWKS: key.JWKS()}},
				nhslogintest.User{Sub: "joan-p9", NHSNumber: nhsJoan, Proofing: "P9", GivenName: "Joan", FamilyName: "Smith", Birthdate: "1940-02-03", Email: "joan@example.com"},
				nhslogintest.User{Sub: "joan-p5", NHSNumber: nhsJoan, Proofing: "P5", GivenName: "Joan", FamilyName: "Smyth", Birthdate: "1940-02-03"},
				nhslogintest.User{Sub: "joan-uplift", NHSNumber: nhsJoan, Proofing: "P5", GivenName: "Joan", FamilyName: "Proving", Birthdate: "1940-02-03"},
				nhslogintest.User{Sub: "stranger-p9", NHSNumber: nhsUnknown, Proofing: "P9", GivenName: "Bob", FamilyName: "Nobody", Birthdate: "1950-01-01"},
				nhslogintest.User{Sub: "joan-other-dob", NHSNumber: nhsJoan, Proofing: "P9", GivenName: "Joan", FamilyName: "Smith", Birthdate: "1941-02-03"},
				nhslogintest.User{Sub: "low-p0", NHSNumber: nhsJoan, Proofing: "P0", GivenName: "Pat", FamilyName: "Zero"},
			)
			sp, err := launch.NHSLogin("nhslogin", nh.op.URL(), "ucp-test", key)
			if err != nil {
				t.Fatal(err)
			}
			mgr, err := session.NewManager(session.Config{State: state, NotFound: authstate.ErrNotFound, BaseURL: root, Now: nh.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			c.Sessions, c.SignIn, c.Pending, c.Origin = mgr, []*launch.SignInProvider{sp}, state, root
		})
	return nh
}

// signIn starts at start (a path), picks who at the stand-in and comes
// back: the callback's answer.
func (nh *nhsLoginHarness) signIn(t *testing.T, c *http.Client, start, who string) answer {
	t.Helper()
	a := do(t, c, "GET", nh.root+start, nil)
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, nh.op.URL()+"/authorize?") {
		t.Fatalf("start: %d to %q\n%s", a.status, a.location, a.body)
	}
	form := do(t, c, "GET", a.location, nil)
	if form.status != http.StatusOK {
		t.Fatalf("the stand-in refused the authorization request: %d %s %s", form.status, form.location, form.body)
	}
	f := url.Values{"user": {who}}
	for _, m := range hiddenField.FindAllStringSubmatch(form.body, -1) {
		f.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	back := do(t, c, "POST", strings.Split(a.location, "?")[0], f)
	if back.status != http.StatusSeeOther || !strings.HasPrefix(back.location, nh.root+"/auth/oidc/nhslogin/callback?") {
		t.Fatalf("the stand-in answered %d to %q", back.status, back.location)
	}
	return do(t, c, "GET", back.location, nil)
}

// session is the session c's cookie opens, as a page sees it.
func (h *harness) session(t *testing.T, c *http.Client) (*session.Session, bool) {
	t.Helper()
	r, _ := http.NewRequest("GET", h.root+"/app/", nil)
	u, _ := url.Parse(h.root)
	for _, ck := range c.Jar.Cookies(u) {
		r.AddCookie(ck)
	}
	return h.sessions.Current(r)
}

func TestNHSLoginSignIn(t *testing.T) {
	nh := newNHSLoginHarness(t, func(h http.Handler) string { return resttest.Serve(t, h).URL })
	type outcome struct {
		Status   int
		Location string
		Proofing string // the session's, "" for none
		NHS      string // the session's NHS number
		Says     string // words the refusal page says
	}
	landing := "/app/patients/" + nh.patient
	for _, tc := range []struct {
		name, start, who string
		faults           nhslogintest.Faults
		want             outcome
		wantVTR          []string
	}{
		{name: "a P9 patient is bound to their own record", start: "/auth/oidc/nhslogin/start", who: "joan-p9",
			want: outcome{Status: 303, Location: landing, Proofing: "P9", NHS: nhsJoan}, wantVTR: launch.NHSLoginVectors},
		{name: "a P5 patient's session carries P5", start: "/auth/oidc/nhslogin/start", who: "joan-p5",
			want: outcome{Status: 303, Location: landing, Proofing: "P5", NHS: nhsJoan}, wantVTR: launch.NHSLoginVectors},
		{name: "a return_to elsewhere does not move a patient off their record", start: "/auth/oidc/nhslogin/start?return_to=%2Fapp%2Fpatients%2Fsomeone-else", who: "joan-p9",
			want: outcome{Status: 303, Location: landing, Proofing: "P9", NHS: nhsJoan}, wantVTR: launch.NHSLoginVectors},
		{name: "a step-up asks for P9 only and comes back to the page", start: "/auth/oidc/nhslogin/start?step=p9&return_to=%2Fapp%2Fmy-plan%3Fpage%3D3", who: "joan-uplift",
			want: outcome{Status: 303, Location: "/app/my-plan?page=3", Proofing: "P9", NHS: nhsJoan}, wantVTR: launch.NHSLoginP9Vectors},
		{name: "a step-up never goes to another site", start: "/auth/oidc/nhslogin/start?step=p9&return_to=%2F%2Fevil.example%2F", who: "joan-p9",
			want: outcome{Status: 303, Location: "/app/", Proofing: "P9", NHS: nhsJoan}, wantVTR: launch.NHSLoginP9Vectors},
		{name: "a P5 vot makes a P5 session whatever the claim says", start: "/auth/oidc/nhslogin/start", who: "joan-p9",
			faults: nhslogintest.Faults{VOT: "P5.Cp.Cd"},
			want:   outcome{Status: 303, Location: landing, Proofing: "P5", NHS: nhsJoan}, wantVTR: launch.NHSLoginVectors},
		{name: "a vot outside the request is refused", start: "/auth/oidc/nhslogin/start?step=p9", who: "joan-p9",
			faults: nhslogintest.Faults{VOT: "P5.Cp.Cd"},
			want:   outcome{Status: 403, Says: "did not confirm your identity as ucp asked"}, wantVTR: launch.NHSLoginP9Vectors},
		{name: "a vot NHS login does not have is refused", start: "/auth/oidc/nhslogin/start", who: "joan-p9",
			faults: nhslogintest.Faults{VOT: "P9.Cx"},
			want:   outcome{Status: 403, Says: "did not confirm your identity as ucp asked"}, wantVTR: launch.NHSLoginVectors},
		{name: "an HS256 ID token is refused", start: "/auth/oidc/nhslogin/start", who: "joan-p9",
			faults: nhslogintest.Faults{IDTokenAlg: "HS256"},
			want:   outcome{Status: 401, Says: "The sign-in did not finish"}, wantVTR: launch.NHSLoginVectors},
		{name: "an RS256 ID token is refused", start: "/auth/oidc/nhslogin/start", who: "joan-p9",
			faults: nhslogintest.Faults{IDTokenAlg: "RS256"},
			want:   outcome{Status: 401, Says: "The sign-in did not finish"}, wantVTR: launch.NHSLoginVectors},
		{name: "userinfo about someone else is refused", start: "/auth/oidc/nhslogin/start", who: "joan-p9",
			faults: nhslogintest.Faults{UserInfoSub: "stranger-p9"},
			want:   outcome{Status: 401, Says: "did not agree with each other"}, wantVTR: launch.NHSLoginVectors},
		{name: "a date of birth other than the record's is refused", start: "/auth/oidc/nhslogin/start", who: "joan-other-dob",
			want: outcome{Status: 403, Says: "Ask your GP practice to check your details"}, wantVTR: launch.NHSLoginVectors},
		{name: "a patient ucp has no record of", start: "/auth/oidc/nhslogin/start", who: "stranger-p9",
			want: outcome{Status: 404, Says: "no care plan for you"}, wantVTR: launch.NHSLoginVectors},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nh.op.SetFaults(tc.faults)
			defer nh.op.SetFaults(nhslogintest.Faults{})
			c := client(t)
			before := nh.events.count()
			a := nh.signIn(t, c, tc.start, tc.who)
			got := outcome{Status: a.status, Location: a.location}
			if s, ok := nh.session(t, c); ok {
				got.Proofing, got.NHS = s.Launch.User.IdentityProofing, s.Launch.NHSNumber
			}
			if tc.want.Says != "" && strings.Contains(a.body, tc.want.Says) {
				got.Says = tc.want.Says
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sign-in (-want +got):\n%s\n%s", diff, a.body)
			}
			if strings.Contains(a.body, nhsJoan) || strings.Contains(a.body, "943 476 5919") {
				t.Error("the page shows the NHS number NHS login traced")
			}
			if n := nh.events.count() - before; n != 1 {
				t.Errorf("%d AuditEvents, want 1 (the LoginEvent)", n)
			}
			ev := nh.events.last(t)
			if wantOK := tc.want.Status == 303; (ev.Outcome == "0") != wantOK {
				t.Errorf("LoginEvent outcome %q for a %d", ev.Outcome, tc.want.Status)
			}
			var vtr []string
			if err := json.Unmarshal([]byte(nh.op.LastVTR()), &vtr); err != nil {
				t.Fatalf("vtr %q: %v", nh.op.LastVTR(), err)
			}
			if diff := cmp.Diff(tc.wantVTR, vtr); diff != "" {
				t.Errorf("vtr sent (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a P0 account is refused", func(t *testing.T) {
		// P0 meets none of the vectors asked for: NHS login sends the
		// person back with access_denied.
		a := nh.signIn(t, client(t), "/auth/oidc/nhslogin/start", "low-p0")
		if a.status != http.StatusUnauthorized {
			t.Errorf("%d, want 401\n%s", a.status, a.body)
		}
	})
	t.Run("an unknown step is a 400", func(t *testing.T) {
		if a := do(t, client(t), "GET", nh.root+"/auth/oidc/nhslogin/start?step=p12", nil); a.status != http.StatusBadRequest {
			t.Errorf("%d, want 400", a.status)
		}
	})
}

// TestNHSLoginSessionLimits: NHS login has no session management, so
// ucp's own limits end a patient's session: 30 minutes idle, 12 hours in
// all.
func TestNHSLoginSessionLimits(t *testing.T) {
	nh := newNHSLoginHarness(t, func(h http.Handler) string { return resttest.Serve(t, h).URL })
	page := func(c *http.Client) int { return do(t, c, "GET", nh.root+"/app/patients/"+nh.patient, nil).status }
	t.Run("idle", func(t *testing.T) {
		c := client(t)
		if a := nh.signIn(t, c, "/auth/oidc/nhslogin/start", "joan-p9"); a.status != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", a.status)
		}
		nh.clock.Add(29 * time.Minute)
		if got := page(c); got != http.StatusOK {
			t.Fatalf("after 29 idle minutes: %d, want 200", got)
		}
		nh.clock.Add(30*time.Minute + time.Second)
		if got := page(c); got != http.StatusSeeOther {
			t.Errorf("after 30 idle minutes: %d, want 303 to sign in", got)
		}
	})
	t.Run("twelve hours", func(t *testing.T) {
		c := client(t)
		if a := nh.signIn(t, c, "/auth/oidc/nhslogin/start", "joan-p9"); a.status != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", a.status)
		}
		for i := 0; i < 35; i++ { // 11h40 of steady use
			nh.clock.Add(20 * time.Minute)
			if got := page(c); got != http.StatusOK {
				t.Fatalf("after %v of use: %d, want 200", time.Duration(i+1)*20*time.Minute, got)
			}
		}
		nh.clock.Add(20 * time.Minute)
		if got := page(c); got != http.StatusSeeOther {
			t.Errorf("after 12 hours: %d, want 303 to sign in", got)
		}
	})
}

func TestNHSLoginNeedsAnRS512Key(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		key, err := auth.NewSigningKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := launch.NHSLogin("nhslogin", "https://auth.login.nhs.uk", "ucp", key); err == nil {
			t.Errorf("an %s key was accepted", alg)
		}
	}
}

func TestStepUpPath(t *testing.T) {
	for _, tc := range []struct{ returnTo, want string }{
		{"/app/my-plan?page=2", "/auth/oidc/nhslogin/start?return_to=%2Fapp%2Fmy-plan%3Fpage%3D2&step=p9"},
		{"https://evil.example/", "/auth/oidc/nhslogin/start?return_to=%2Fapp%2F&step=p9"},
		{"", "/auth/oidc/nhslogin/start?step=p9"},
	} {
		if got := launch.StepUpPath("nhslogin", tc.returnTo); got != tc.want {
			t.Errorf("StepUpPath(%q) = %q, want %q", tc.returnTo, got, tc.want)
		}
	}
}

// TestVectorsAreForPatients: a staff provider's ID tokens are mapped as
// Bearer tokens are, so vectors of trust or userinfo on one would go
// unchecked: New refuses them.
func TestVectorsAreForPatients(t *testing.T) {
	key, err := auth.NewSigningKey("RS512")
	if err != nil {
		t.Fatal(err)
	}
	newHarnessOn(t, func(h http.Handler) string { return resttest.Serve(t, h).URL }, false, nil,
		func(c *launch.Config, _ *devissuer.Issuer, state *authstate.Store) {
			for _, edit := range []func(*launch.SignInProvider){
				func(sp *launch.SignInProvider) { sp.UserInfo, sp.StepUpVectors = false, nil },
				func(sp *launch.SignInProvider) { sp.Vectors, sp.StepUpVectors = nil, nil },
				func(sp *launch.SignInProvider) { sp.Vectors, sp.UserInfo = nil, false },
			} {
				sp, err := launch.NHSLogin("staff", "https://cis2.example", "ucp", key)
				if err != nil {
					t.Fatal(err)
				}
				sp.Patients = false
				edit(sp)
				cfg := *c
				cfg.SignIn, cfg.Pending, cfg.Origin, cfg.Staff = []*launch.SignInProvider{sp}, state, "https://ucp.example", c.DevVerify
				if _, err := launch.New(cfg); err == nil {
					t.Errorf("a staff provider with vectors %v, step-up %v, userinfo %v was accepted", sp.Vectors, sp.StepUpVectors, sp.UserInfo)
				}
			}
		})
}
