package browsertest_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"ucp/internal/browsertest"
)

var browser *browsertest.Browser

func TestMain(m *testing.M) {
	b, err := browsertest.Start()
	if err != nil && !errors.Is(err, browsertest.ErrNoChromium) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if b == nil {
		fmt.Fprintln(os.Stderr, "browsertest: skipping browser tests:", err)
	}
	browser = b
	code := m.Run()
	browser.Close()
	os.Exit(code)
}

func TestTabRunsScript(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>t</title><p id=p>before</p><script>document.getElementById('p').textContent='after'</script>`)
	}))
	defer srv.Close()
	ctx := browser.Tab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("#p"))
	if err != nil {
		t.Fatal(err)
	}
	if text != "after" {
		t.Errorf("text = %q, want %q", text, "after")
	}
	png := filepath.Join(t.TempDir(), "shot.png")
	if err := browsertest.Screenshot(ctx, png, 375, 600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(png)
	if err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Errorf("screenshot is not a PNG (err %v)", err)
	}
}

func TestTabsHaveTheirOwnCookies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "1", Path: "/"})
		}
		c, _ := r.Cookie("s")
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<p id=c>%v</p>`, c != nil)
	}))
	defer srv.Close()
	a := browser.Tab(t)
	if err := chromedp.Do(a, chromedp.Navigate(srv.URL+"/set"), chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	first, err := chromedp.Run(a, chromedp.Text("#c"))
	if err != nil {
		t.Fatal(err)
	}
	b := browser.Tab(t)
	if err := chromedp.Do(b, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	second, err := chromedp.Run(b, chromedp.Text("#c"))
	if err != nil {
		t.Fatal(err)
	}
	if first != "true" || second != "false" {
		t.Errorf("cookie seen: first tab %s, second tab %s; want true, false", first, second)
	}
}

func TestNPMFetchesAndCaches(t *testing.T) {
	t.Setenv("UCP_NPM_CACHE", t.TempDir())
	p := browsertest.NPM(t, "axe-core@4.10.3", "axe.min.js")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "axe") {
		t.Errorf("%s does not look like axe-core", p)
	}
	if again := browsertest.NPM(t, "axe-core@4.10.3", "axe.min.js"); again != p {
		t.Errorf("second fetch gave %s, want the cached %s", again, p)
	}
}
