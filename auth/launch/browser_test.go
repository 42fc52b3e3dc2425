package launch_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"

	"ucp/auth/launch"
	"ucp/auth/launch/nhslogintest"
	"ucp/internal/browsertest"
)

var browser *browsertest.Browser

// quietLog drops the test servers' TLS handshake complaints: the browser
// does not know their certificate until it is told to accept it.
var quietLog = log.New(io.Discard, "", 0)

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// Fuzzing runs no browser test; each fuzz worker would start one.
		os.Exit(m.Run())
	}
	b, err := browsertest.Start()
	if err != nil && !errors.Is(err, browsertest.ErrNoChromium) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if b == nil {
		fmt.Fprintln(os.Stderr, "launch: skipping browser tests:", err)
	}
	browser = b
	code := m.Run()
	browser.Close()
	os.Exit(code)
}

// shots is where the tests leave screenshots of the pages, for a person to
// look at: $UCP_SCREENSHOTS, else the test's temporary folder.
func shots(t *testing.T) string {
	if d := os.Getenv("UCP_SCREENSHOTS"); d != "" {
		return d
	}
	return t.TempDir()
}

func TestLinkInChromium(t *testing.T) {
	h := newHarness(t)
	ctx := browser.Tab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(h.linkURL+"?token="+h.sign(t, joanClaims()))); err != nil {
		t.Fatal(err)
	}
	who, err := chromedp.Run(ctx, chromedp.Text("#who"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "signed in as Dr Ann Hale (clinical, F84012) on Patient/" + h.patient; who != want {
		t.Errorf("landing page says %q, want %q", who, want)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if strings.Contains(loc, "token=") {
		t.Errorf("the token is still in the address bar: %s", loc)
	}
	// The cookie is out of JavaScript's reach.
	if cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie")); err != nil || cookies != "" {
		t.Errorf("document.cookie = %q (%v), want nothing", cookies, err)
	}
	// A refusal is a page in words; look at it.
	if err := chromedp.Do(ctx, chromedp.Navigate(h.linkURL+"?token="+h.sign(t, func() (c launch.LinkClaims) {
		c = joanClaims()
		c.BirthDate = "1941-02-03"
		return c
	}()))); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text("h1"))
	if err != nil || title != "The date of birth does not match" {
		t.Errorf("refusal page heading %q (%v)", title, err)
	}
	dir := shots(t)
	for _, w := range []int64{1280, 375} {
		if err := browsertest.Screenshot(ctx, filepath.Join(dir, fmt.Sprintf("link-refused-%d.png", w)), w, 800); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(h.root+"/auth/signin")); err != nil {
		t.Fatal(err)
	}
	for _, w := range []int64{1280, 375} {
		if err := browsertest.Screenshot(ctx, filepath.Join(dir, fmt.Sprintf("dev-signin-%d.png", w)), w, 800); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLinkFramed opens the link inside an iframe of a page on another
// site, over TLS, as a GP system does: an allowed origin gets a working
// session in its frame (a partitioned cookie), any other is refused.
func TestLinkFramed(t *testing.T) {
	// The GP systems' pages, on localhost: another site than 127.0.0.1.
	gp := func() *httptest.Server {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>GP system</title><h1>GP system</h1>
<p id="result">waiting</p><p id="loaded"></p>
<script>addEventListener("message", e => { document.getElementById("result").textContent = e.data })</script>
<iframe id="ucp" width="800" height="400" src="%s" onload="document.getElementById('loaded').textContent = 'loaded'"></iframe>`, html.EscapeString(r.URL.Query().Get("src")))
		}))
		s.Config.ErrorLog = quietLog
		s.StartTLS()
		t.Cleanup(s.Close)
		return s
	}
	allowed, other := gp(), gp()
	onLocalhost := func(s *httptest.Server) string { return strings.Replace(s.URL, "127.0.0.1", "localhost", 1) }
	h := newHarnessOn(t, func(hd http.Handler) string {
		s := httptest.NewUnstartedServer(hd)
		s.Config.ErrorLog = quietLog
		s.StartTLS()
		t.Cleanup(s.Close)
		return s.URL
	}, true, []string{onLocalhost(allowed)})

	open := func(t *testing.T, gpURL string) context.Context {
		ctx := browser.Tab(t)
		// The test servers' certificate is their own; the browser is
		// told to accept it rather than given a CA.
		if _, err := chromedp.Call(ctx, security.SetIgnoreCertificateErrors, security.SetIgnoreCertificateErrorsParams{Ignore: true}); err != nil {
			t.Fatal(err)
		}
		link := h.linkURL + "?token=" + h.sign(t, joanClaims())
		if err := chromedp.Do(ctx, chromedp.Navigate(gpURL+"/?src="+strings.ReplaceAll(link, "&", "%26"))); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	t.Run("allowed", func(t *testing.T) {
		ctx := open(t, onLocalhost(allowed))
		got, err := chromedp.Run(ctx, chromedp.Poll[string](`document.getElementById("result").textContent.startsWith("signed in") && document.getElementById("result").textContent`))
		if err != nil {
			t.Fatal(err)
		}
		if want := "signed in as Dr Ann Hale (clinical, F84012) on Patient/" + h.patient; got != want {
			t.Errorf("the framed page says %q, want %q", got, want)
		}
		_ = browsertest.Screenshot(ctx, filepath.Join(shots(t), "link-framed-1280.png"), 1280, 800)
	})
	t.Run("refused", func(t *testing.T) {
		ctx := open(t, onLocalhost(other))
		// The frame has finished loading (an error page, since the
		// browser refused to show ucp in it) and no page of ucp spoke.
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("loaded").textContent === "loaded"`)); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Text("#result"))
		if err != nil {
			t.Fatal(err)
		}
		if got != "waiting" {
			t.Errorf("ucp rendered in a frame of an origin not allowed: %q", got)
		}
	})
}

// TestNHSLoginInChromium signs a patient in through the stand-in NHS login
// in a real browser: P9 lands on their own record; a vot outside the
// request is a page in words.
func TestNHSLoginInChromium(t *testing.T) {
	nh := newNHSLoginHarness(t, func(h http.Handler) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	})
	ctx := browser.Tab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(nh.root+"/auth/oidc/nhslogin/start"), chromedp.WaitVisible("#user-joan-p9"),
		chromedp.Click("#user-joan-p9"), chromedp.WaitVisible("#who")); err != nil {
		t.Fatal(err)
	}
	who, err := chromedp.Run(ctx, chromedp.Text("#who"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "signed in as Joan Smith (patient, ) on Patient/" + nh.patient; who != want {
		t.Errorf("landing page says %q, want %q", who, want)
	}
	nh.op.SetFaults(nhslogintest.Faults{VOT: "P5.Cp.Cd"})
	defer nh.op.SetFaults(nhslogintest.Faults{})
	if err := chromedp.Do(ctx, chromedp.Navigate(nh.root+"/auth/oidc/nhslogin/start?step=p9"), chromedp.WaitVisible("#user-joan-p9"),
		chromedp.Click("#user-joan-p9"), chromedp.WaitVisible("main h1")); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text("main h1"))
	if err != nil || title != "NHS login did not confirm your identity as ucp asked" {
		t.Errorf("refusal page heading %q (%v)", title, err)
	}
	dir := shots(t)
	for _, w := range []int64{1280, 375} {
		if err := browsertest.Screenshot(ctx, filepath.Join(dir, fmt.Sprintf("nhslogin-vot-refused-%d.png", w)), w, 800); err != nil {
			t.Fatal(err)
		}
	}
}
