package launch_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/auth/authstate"
	"ucp/auth/devissuer"
	"ucp/auth/launch"
	"ucp/auth/smart"
	"ucp/internal/resttest"
)

// readmeBlock returns the fenced block after the marker comment in the
// README.
func readmeBlock(t *testing.T, readme, marker string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<!-- ` + marker + ` -->\n` + "```[a-z]*\n(.*?)```").FindStringSubmatch(readme)
	if m == nil {
		t.Fatalf("README has no block after <!-- %s -->", marker)
	}
	return m[1]
}

// TestReadmeLinkVectors checks the worked example of "Launch from a GP
// system": the registration, key and token it gives are what ucp accepts,
// and its refusals are as it says.
func TestReadmeLinkVectors(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	clients, err := smart.ParseClients("README", []byte(readmeBlock(t, readme, "link-vectors-clients")))
	if err != nil {
		t.Fatal(err)
	}
	example, err := clients.Client(t.Context(), "example-gp-system")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(readmeBlock(t, readme, "link-vectors-token"))
	pem := regexp.MustCompile(`(?s)-----BEGIN PRIVATE KEY-----.*?-----END PRIVATE KEY-----`).FindString(readme)
	keyFile := filepath.Join(t.TempDir(), "example.pem")
	if err := os.WriteFile(keyFile, []byte(pem+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadOrCreateSigningKey(keyFile, "ES384")
	if err != nil {
		t.Fatal(err)
	}
	if key.KeyID() != example.JWKS.Keys[0].KeyID {
		t.Fatalf("the README's private key has kid %s, its registration %s", key.KeyID(), example.JWKS.Keys[0].KeyID)
	}
	const linkURL = "https://ucp.example.nhs.uk/launch/link"
	at := time.Date(2026, 12, 7, 9, 30, 10, 0, time.UTC)
	h := newHarnessOn(t, func(hd http.Handler) string { return resttest.Serve(t, hd).URL }, false, nil, func(c *launch.Config, _ *devissuer.Issuer, _ *authstate.Store) {
		c.LinkURL, c.Now = linkURL, func() time.Time { return at }
		if err := c.Launchers.(*smart.MemoryRegistry).Add(example); err != nil {
			t.Fatal(err)
		}
	})
	open := func(tok string) answer {
		// The server is on loopback; the link names its public address.
		return do(t, client(t), "GET", h.linkURL+"?token="+url.QueryEscape(tok), nil)
	}
	wrongDOB, err := launch.SignLink(key, "example-gp-system", linkURL, time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC), launch.LinkClaims{
		NHSNumber: "9434765919", BirthDate: "1940-03-02", UserID: "555123456789", Name: "Dr Ann Hale", RoleCode: "R8000", Org: "F84012"})
	if err != nil {
		t.Fatal(err)
	}
	tampered := tamper(t, token, func(m map[string]any) { m["nhs_number"] = nhsUnknown })
	for _, tc := range []struct {
		name, token string
		status      int
		says        string
	}{
		{"the example", token, http.StatusSeeOther, ""},
		{"a claim changed", tampered, http.StatusUnauthorized, "The link&#39;s signature is not valid"},
		{"another date of birth", wrongDOB, http.StatusForbidden, "The date of birth does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := open(tc.token)
			if a.status != tc.status || !strings.Contains(a.body, tc.says) {
				t.Errorf("%d, want %d saying %q:\n%s", a.status, tc.status, tc.says, a.body)
			}
			if tc.status == http.StatusSeeOther && a.location != "/app/patients/"+h.patient {
				t.Errorf("to %q, want the patient's page", a.location)
			}
		})
	}
}
