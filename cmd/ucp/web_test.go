package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"ucp/internal/browsertest"
)

// TestInContextLinkOpensTheUrgentCareView follows a signed in-context link,
// as a GP system opens ucp, in headless Chromium: it lands signed in on the
// demo patient's urgent care view, which shows the CPR decision and the
// preferred place of death, read through the API's service as that user.
func TestInContextLinkOpensTheUrgentCareView(t *testing.T) {
	// The only browser test of this package: it starts its own Chromium.
	b, err := browsertest.Start()
	if errors.Is(err, browsertest.ErrNoChromium) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	srv := serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3})
	for _, role := range []string{"view", "clinical"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"link", "--server", srv.base, "--key", devLauncherKeyFile(dir), "--nhs", demoNHS, "--role", role}, &out, &errb); code != 0 {
			t.Fatalf("ucp link: exit %d: %s", code, errb.String())
		}
		ctx := b.Tab(t)
		if err := chromedp.Do(ctx, chromedp.Navigate(strings.TrimSpace(out.String())), chromedp.WaitVisible("#cpr-decision")); err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if !strings.Contains(loc, "/app/patients/") {
			t.Errorf("%s: landed on %s", role, loc)
		}
		cpr, _ := chromedp.Run(ctx, chromedp.Text("#cpr-decision"))
		ppd, _ := chromedp.Run(ctx, chromedp.Text("#ppd-value"))
		if !strings.Contains(cpr, "Not for attempted cardiopulmonary resuscitation") || ppd == "" || ppd == "Not recorded" {
			t.Errorf("%s: CPR decision %q, preferred place of death %q", role, cpr, ppd)
		}
		edit, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('edit-plan') !== null`))
		if err != nil {
			t.Fatal(err)
		}
		if edit != (role == "clinical") {
			t.Errorf("%s: edit control shown = %v", role, edit)
		}
	}
}
