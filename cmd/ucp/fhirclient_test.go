package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"ucp/auth"
	"ucp/auth/smart"
	"ucp/internal/browsertest"
)

// fhirclientResult is what the fixture app page shows once it has read
// the patient's plans.
type fhirclientResult struct {
	Patient     string           `json:"patient"`
	Plans       []string         `json:"plans"`
	Banner      bool             `json:"banner"`
	FHIRContext []map[string]any `json:"fhirContext"`
	Scope       string           `json:"scope"`
	FHIRUser    string           `json:"fhirUser"`
}

// TestFHIRClientLaunches is the SMART reference client, npm fhirclient
// unmodified, in headless Chromium against the server as wired: a
// standalone launch (development sign-in, the patient picked by NHS number
// on the approval page) and an EHR launch (POST /auth/launch by a
// registered launcher), each ending with the app reading the patient's
// CarePlan through the FHIR API with the token it received.
func TestFHIRClientLaunches(t *testing.T) {
	b, err := browsertest.Start()
	if errors.Is(err, browsertest.ErrNoChromium) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	lib := browsertest.NPM(t, "fhirclient@2.6.3", "build/fhir-client.js")

	// The app: the fixture pages and the library, on an origin of its own.
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir("testdata/fhirclient")))
	mux.HandleFunc("/fhir-client.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, lib) })
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)

	// The app and a GP system that launches it, registered.
	dir := t.TempDir()
	gpKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clients := []*smart.Client{
		{ID: "fhirclient-test", Name: "fhirclient test app", RedirectURIs: []string{app.URL + "/app.html"}, AuthMethod: smart.AuthNone},
		{ID: "gp-system", Name: "GP system", Scope: "system/Patient.rs", Org: devOrg, EHRLaunch: true,
			JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: gpKey.Public(), KeyID: "gp-1", Algorithm: "ES384", Use: "sig"}}}},
	}
	data, _ := json.Marshal(clients)
	clientsFile := filepath.Join(dir, "clients.json")
	if err := os.WriteFile(clientsFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), MaxBody: 1 << 20,
		Demo: true, Dev: true, ClientsFile: clientsFile})
	shots := os.Getenv("UCP_SCREENSHOTS")

	t.Run("standalone", func(t *testing.T) {
		ctx := b.Tab(t)
		scope := "launch/patient openid fhirUser patient/*.rs offline_access"
		if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/launch.html?iss="+url.QueryEscape(srv.base)+"&scope="+url.QueryEscape(scope))); err != nil {
			t.Fatal(err)
		}
		// ucp sends the user to sign in: the development sign-in page.
		if err := chromedp.Do(ctx, chromedp.WaitVisible("#role"), chromedp.SetValue("#role", "clinical"), chromedp.Submit("#role")); err != nil {
			t.Fatal(err)
		}
		// The approval page: the patient by NHS number.
		if err := chromedp.Do(ctx, chromedp.WaitVisible("#nhs_number")); err != nil {
			t.Fatal(err)
		}
		if dev, err := chromedp.Run(ctx, chromedp.Text("#dev")); err != nil || !strings.Contains(dev, "DEVELOPMENT SERVER") {
			t.Errorf("the approval page of a --dev server is not marked as development: %q %v", dev, err)
		}
		if shots != "" {
			for _, w := range []int64{1280, 375} {
				if err := browsertest.Screenshot(ctx, filepath.Join(shots, "oauth-consent-"+strconv.FormatInt(w, 10)+".png"), w, 800); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := chromedp.Do(ctx, chromedp.SendKeys("#nhs_number", demoNHS), chromedp.Click("#approve")); err != nil {
			t.Fatal(err)
		}
		res := appResult(t, ctx)
		if len(res.Plans) == 0 || !res.Banner || len(res.FHIRContext) != 1 || res.FHIRContext[0]["reference"] != res.Plans[0] {
			t.Errorf("standalone launch: %+v; want the patient's plan read, a banner and the plan in fhirContext", res)
		}
		if !strings.HasSuffix(res.FHIRUser, "Practitioner/dev-user") {
			t.Errorf("fhirUser %q", res.FHIRUser)
		}
	})

	t.Run("EHR launch", func(t *testing.T) {
		// The GP system gets its token and creates the launch.
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: gpKey, KeyID: "gp-1"}}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		tokenURL := publicOrigin(srv.base) + "/auth/token"
		now := time.Now()
		assertion, err := jwt.Signed(sig).Claims(map[string]any{"iss": "gp-system", "sub": "gp-system", "aud": tokenURL,
			"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": auth.NewJTI()}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
			"client_assertion_type": {smart.AssertionType}, "client_assertion": {assertion}})
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		body := `{"nhs_number": "` + demoNHS + `", "client_id": "fhirclient-test", "user": {"id": "555123", "name": "Dr Gail Practice", "role_code": "` + auth.DevRoleCode(auth.RoleClinical) + `", "org": "` + devOrg + `"}}`
		code, hdr, launchBody := call(t, http.MethodPost, publicOrigin(srv.base)+"/auth/launch", tok.AccessToken, []byte(body), "Content-Type: application/json")
		if code != http.StatusCreated {
			t.Fatalf("POST /auth/launch: %d %v %s", code, hdr, launchBody)
		}
		var l struct {
			Launch, ISS string
		}
		json.Unmarshal(launchBody, &l)
		// It opens the app with iss and launch.
		ctx := b.Tab(t)
		if err := chromedp.Do(ctx, chromedp.Navigate(app.URL+"/launch.html?iss="+url.QueryEscape(l.ISS)+"&launch="+url.QueryEscape(l.Launch)+
			"&scope="+url.QueryEscape("launch openid fhirUser user/*.cruds"))); err != nil {
			t.Fatal(err)
		}
		res := appResult(t, ctx)
		if len(res.Plans) == 0 || res.Banner || res.FHIRUser == "" || !strings.Contains(res.Scope, "user/*.crus") {
			t.Errorf("EHR launch: %+v; want the patient's plan read, no banner, the user, a clinician's scopes", res)
		}
	})
}

// appResult waits for the fixture page to finish and reads what it shows.
func appResult(t *testing.T, ctx context.Context) fhirclientResult {
	t.Helper()
	// The page is reached through redirects; a poll started on a page that
	// then navigates away is started again on the next one.
	var err error
	for range 20 {
		if _, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("result") && !!document.getElementById("result").dataset.done`)); err == nil || !(strings.Contains(err.Error(), "navigated or closed") || strings.Contains(err.Error(), "Cannot find context")) {
			break
		}
	}
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
		t.Fatalf("the app page never finished: %v at %s: %s", err, loc, text)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("#result"))
	if err != nil {
		t.Fatal(err)
	}
	var res fhirclientResult
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		t.Fatalf("the app says %q", text)
	}
	return res
}
