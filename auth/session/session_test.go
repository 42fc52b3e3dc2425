package session

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/auth/authstate"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newManager(t *testing.T, cfg Config) (*Manager, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)}
	st, err := authstate.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), authstate.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.State, cfg.NotFound, cfg.Now = st, authstate.ErrNotFound, clk.Now
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, clk
}

func clinician() *auth.Principal {
	sc, _ := auth.ParseScopes("openid fhirUser user/*.cruds")
	return &auth.Principal{Issuer: "https://gp.example", Subject: "u1", UserID: "555000111", Name: "Dr Ann Hale",
		Role: auth.RoleClinical, RoleCode: "R8000", Org: "F84012", Scopes: sc, IDAssurance: 3, FHIRUser: "Practitioner/555000111"}
}

// start runs Start and returns the cookie it set.
func start(t *testing.T, m *Manager, l Launch) (*Session, *http.Cookie) {
	t.Helper()
	w := httptest.NewRecorder()
	s, err := m.Start(context.Background(), w, httptest.NewRequest("GET", "/launch/link", nil), l)
	if err != nil {
		t.Fatal(err)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("Start set %d cookies, want 1", len(cs))
	}
	return s, cs[0]
}

func withCookie(c *http.Cookie) *http.Request {
	r := httptest.NewRequest("GET", "/app/", nil)
	r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	return r
}

func TestCookieAttributes(t *testing.T) {
	type attrs struct {
		Name        string
		HttpOnly    bool
		Secure      bool
		SameSite    http.SameSite
		Partitioned bool
		Path        string
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want attrs
	}{
		{"plain HTTP development", Config{BaseURL: "http://127.0.0.1:8080"},
			attrs{"ucp_session", true, false, http.SameSiteLaxMode, false, "/"}},
		{"https base URL behind a proxy", Config{BaseURL: "https://ucp.example.nhs.uk"},
			attrs{"__Host-ucp_session", true, true, http.SameSiteLaxMode, false, "/"}},
		{"TLS, framed by a GP system", Config{TLS: true, FrameAncestors: []string{"https://gp.example.com"}},
			attrs{"__Host-ucp_session", true, true, http.SameSiteNoneMode, true, "/"}},
		{"plain HTTP with frame ancestors stays Lax (None needs Secure)", Config{FrameAncestors: []string{"http://localhost:9000"}},
			attrs{"ucp_session", true, false, http.SameSiteLaxMode, false, "/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newManager(t, tc.cfg)
			_, c := start(t, m, Launch{User: clinician(), PatientID: "p1", Door: DoorLink})
			got := attrs{c.Name, c.HttpOnly, c.Secure, c.SameSite, c.Partitioned, c.Path}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("cookie (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStartCurrentEnd(t *testing.T) {
	m, _ := newManager(t, Config{})
	l := Launch{User: clinician(), PatientID: "p1", NHSNumber: "9434765919", Door: DoorLink, Launcher: "emis-web"}
	_, c := start(t, m, l)
	s, ok := m.Current(withCookie(c))
	if !ok {
		t.Fatal("no session after Start")
	}
	want := *l.User
	want.Patient = "p1"
	if diff := cmp.Diff(&want, s.Launch.User); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"p1", "9434765919", DoorLink, "emis-web"}, []string{s.Launch.PatientID, s.Launch.NHSNumber, s.Launch.Door, s.Launch.Launcher}); diff != "" {
		t.Errorf("launch (-want +got):\n%s", diff)
	}
	w := httptest.NewRecorder()
	if err := m.End(context.Background(), w, withCookie(c)); err != nil {
		t.Fatal(err)
	}
	if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("End did not clear the cookie: %v", cs)
	}
	if _, ok := m.Current(withCookie(c)); ok {
		t.Error("session still live after End")
	}
	if _, ok := m.Current(withCookie(&http.Cookie{Name: c.Name, Value: "made-up"})); ok {
		t.Error("a made-up id found a session")
	}
}

func TestStartReplacesTheOldSession(t *testing.T) {
	m, _ := newManager(t, Config{})
	_, old := start(t, m, Launch{User: clinician(), PatientID: "p1", Door: DoorLink})
	w := httptest.NewRecorder()
	if _, err := m.Start(context.Background(), w, withCookie(old), Launch{User: clinician(), PatientID: "p2", Door: DoorLink}); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Current(withCookie(old)); ok {
		t.Error("the old session id still works after a new sign-in")
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		m, clk := newManager(t, Config{})
		_, c := start(t, m, Launch{User: clinician(), PatientID: "p1", Door: DoorLink})
		clk.Add(IdleTimeout - time.Second)
		if _, ok := m.Current(withCookie(c)); !ok {
			t.Fatal("session ended before its idle timeout")
		}
		// That use pushed the deadline.
		clk.Add(IdleTimeout - time.Second)
		if _, ok := m.Current(withCookie(c)); !ok {
			t.Fatal("use did not push the idle deadline")
		}
		clk.Add(IdleTimeout)
		if _, ok := m.Current(withCookie(c)); ok {
			t.Error("session live after 30 idle minutes")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		m, clk := newManager(t, Config{})
		_, c := start(t, m, Launch{User: clinician(), PatientID: "p1", Door: DoorLink})
		for elapsed := time.Duration(0); elapsed < AbsoluteTimeout-20*time.Minute; elapsed += 20 * time.Minute {
			clk.Add(20 * time.Minute)
			if _, ok := m.Current(withCookie(c)); !ok {
				t.Fatalf("session ended after %v of steady use", elapsed+20*time.Minute)
			}
		}
		clk.Add(20 * time.Minute)
		if _, ok := m.Current(withCookie(c)); ok {
			t.Error("session live after 12 hours")
		}
	})
}

func TestPatientIsBoundToOwnRecord(t *testing.T) {
	m, _ := newManager(t, Config{})
	pat := &auth.Principal{Subject: "nhs-login-1", Role: auth.RolePatient, Patient: "p1", FHIRUser: "Patient/p1"}
	if _, err := m.Start(context.Background(), httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil),
		Launch{User: pat, PatientID: "p2", Door: DoorSignIn}); err == nil {
		t.Error("a patient's session started on another patient's record")
	}
	s, _ := start(t, m, Launch{User: pat, PatientID: "p1", Door: DoorSignIn})
	if err := m.SetPatient(context.Background(), s, "p2", ""); err == nil {
		t.Error("a patient's session moved to another record")
	}
	for _, u := range []*auth.Principal{nil, {Subject: "x"}, {Subject: "cad", Role: auth.RoleSystem}} {
		if _, err := m.Start(context.Background(), httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), Launch{User: u, PatientID: "p1"}); err == nil {
			t.Errorf("a session started for %+v", u)
		}
	}
}

func TestCheckCSRF(t *testing.T) {
	m, _ := newManager(t, Config{BaseURL: "https://ucp.example.nhs.uk"})
	s, _ := start(t, m, Launch{User: clinician(), PatientID: "p1", Door: DoorLink})
	tok := m.CSRFToken(s)
	post := func(form url.Values, origin, header string) *http.Request {
		r := httptest.NewRequest("POST", "https://ucp.example.nhs.uk/app/x", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if header != "" {
			r.Header.Set("X-CSRF-Token", header)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		ok   bool
	}{
		{"form token", post(url.Values{CSRFField: {tok}}, "", ""), true},
		{"form token, own origin", post(url.Values{CSRFField: {tok}}, "https://ucp.example.nhs.uk", ""), true},
		{"header token", post(nil, "", tok), true},
		{"no token", post(nil, "", ""), false},
		{"wrong token", post(url.Values{CSRFField: {tok + "x"}}, "", ""), false},
		{"another origin", post(url.Values{CSRFField: {tok}}, "https://evil.example", ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.CheckCSRF(tc.r, s)
			if (err == nil) != tc.ok {
				t.Errorf("CheckCSRF = %v, want ok %v", err, tc.ok)
			}
		})
	}
	if err := m.CheckCSRF(post(url.Values{CSRFField: {""}}, "", ""), &Session{}); err == nil {
		t.Error("an empty token matched a session without one")
	}
}

func TestSignInURLKeepsLocalPathsOnly(t *testing.T) {
	m, _ := newManager(t, Config{})
	for _, tc := range []struct{ in, want string }{
		{"/app/patients/p1?tab=plan", "/app/patients/p1?tab=plan"},
		{"/auth/authorize?client_id=a&state=b", "/auth/authorize?client_id=a&state=b"},
		{"https://evil.example/", "/app/"},
		{"//evil.example/", "/app/"},
		{"/\\evil.example", "/app/"},
		{"javascript:alert(1)", "/app/"},
		{"", "/app/"},
		{"/app/\r\nSet-Cookie: x", "/app/"},
	} {
		u, err := url.Parse(m.SignInURL(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Query().Get("return_to"); got != tc.want || u.Path != "/auth/signin" {
			t.Errorf("SignInURL(%q) = %s, want return_to %q", tc.in, u, tc.want)
		}
	}
}

func TestMiddleware(t *testing.T) {
	gin.SetMode(gin.TestMode)
	m, _ := newManager(t, Config{TLS: true, FrameAncestors: []string{"https://gp.example.com"}})
	_, c := start(t, m, Launch{User: clinician(), PatientID: "p1", Door: DoorLink})
	e := gin.New()
	e.Use(m.Middleware())
	e.GET("/app/", func(c *gin.Context) {
		p := auth.FromContext(c.Request.Context())
		s := FromContext(c.Request.Context())
		if p == nil || s == nil {
			c.String(http.StatusUnauthorized, "anonymous")
			return
		}
		c.String(http.StatusOK, p.Name+" on "+p.Patient)
	})
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		want   string
	}{
		{"signed in", c, "Dr Ann Hale on p1"},
		{"anonymous", nil, "anonymous"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/app/", nil)
			if tc.cookie != nil {
				r = withCookie(tc.cookie)
			}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			if diff := cmp.Diff(tc.want, w.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if got, want := w.Header().Get("Content-Security-Policy"), "frame-ancestors 'self' https://gp.example.com"; got != want {
				t.Errorf("CSP = %q, want %q", got, want)
			}
		})
	}
}

func TestFrameAncestorsMustBeOrigins(t *testing.T) {
	st, err := authstate.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, o := range []string{"https://gp.example.com/path", "*", "https://*.example.com", "gp.example.com", "https://a.example 'unsafe-inline'"} {
		if _, err := NewManager(Config{State: st, NotFound: authstate.ErrNotFound, FrameAncestors: []string{o}}); err == nil {
			t.Errorf("frame ancestor %q accepted", o)
		}
	}
}

func TestPatientProofing(t *testing.T) {
	pat := func(level string) *auth.Principal {
		return &auth.Principal{Subject: "nhs-login-1", Role: auth.RolePatient, Patient: "p1", FHIRUser: "Patient/p1", IdentityProofing: level}
	}
	staff := clinician()
	for _, tc := range []struct {
		name string
		user *auth.Principal
		want string
	}{
		{"a verified patient stays P9", pat("P9"), "P9"},
		{"a P5 patient stays P5", pat("P5"), "P5"},
		{"a patient whose sign-in did not say counts as P5", pat(""), "P5"},
		{"an unknown level counts as P5", pat("P7"), "P5"},
		{"staff carry no proofing level", staff, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newManager(t, Config{})
			s, c := start(t, m, Launch{User: tc.user, PatientID: "p1", Door: DoorSignIn})
			got, ok := m.Current(withCookie(c))
			if !ok {
				t.Fatal("no session")
			}
			if diff := cmp.Diff([]string{tc.want, tc.want}, []string{s.Launch.User.IdentityProofing, got.Launch.User.IdentityProofing}); diff != "" {
				t.Errorf("proofing at start and restored (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzLocalPath checks that whatever a return_to holds, LocalPath gives a
// path a browser resolves on this server: never another host, never a
// scheme, so a sign-in cannot be turned into an open redirect.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/app/patients/p1?tab=plan", "//evil.example/", "/\\evil.example", "https://evil.example", "/app/\r\n",
		"javascript:alert(1)", "/%2F%2Fevil.example", "/.//evil.example", " /evil", "/\x00x", "/app/#frag", "\t//evil.example"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://ucp.example/auth/oidc/nhslogin/callback")
	f.Fuzz(func(t *testing.T, in string) {
		got := LocalPath(in)
		if got != in && got != "/app/" {
			t.Fatalf("LocalPath(%q) = %q: neither the path nor /app/", in, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("LocalPath(%q) = %q, not a local path", in, got)
		}
		// A browser drops tabs and newlines and treats \ as /; then resolves.
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("LocalPath(%q) = %q does not parse: %v", in, got, err)
		}
		if r := base.ResolveReference(u); r.Host != "ucp.example" || r.Scheme != "https" {
			t.Fatalf("LocalPath(%q) = %q leads to %s", in, got, r)
		}
	})
}
