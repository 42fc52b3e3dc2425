package launch

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/auth/authstate"
	"ucp/auth/smart"
	"ucp/internal/resttest"
)

// FuzzVerifyLink gives the link's parser and checks any token: each is
// refused with a 4xx (or passes); never a 5xx, never a panic.
func FuzzVerifyLink(f *testing.F) {
	key, err := auth.NewSigningKey("ES384")
	if err != nil {
		f.Fatal(err)
	}
	launchers, err := smart.NewMemoryRegistry(&smart.Client{ID: "gp", JWKS: key.JWKS(), InContextLaunch: true})
	if err != nil {
		f.Fatal(err)
	}
	state, err := authstate.Open(context.Background(), filepath.Join(f.TempDir(), "state.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { state.Close() })
	const linkURL = "https://ucp.example/launch/link"
	d := &Doors{cfg: Config{Launchers: launchers, Replay: state, Exists: authstate.ErrExists,
		Agreements: &auth.StoreAgreements{Store: resttest.OpenStore(f)}, Operator: "F84012", Roles: auth.DevRoleMap(),
		LinkURL: linkURL, Now: time.Now}}
	now := time.Now()
	valid, err := SignLink(key, "gp", linkURL, now, LinkClaims{NHSNumber: "9434765919", BirthDate: "1940-02-03", UserID: "u", Name: "n",
		RoleCode: auth.DevRoleCode(auth.RoleClinical), Org: "F84012"})
	if err != nil {
		f.Fatal(err)
	}
	odd, _ := key.Sign(map[string]any{"iss": "gp", "sub": "gp", "aud": []any{linkURL, 1}, "iat": "x", "exp": 1e300, "jti": 7, "nhs_number": []any{1}})
	for _, s := range []string{valid, valid[:len(valid)-3], "", "a.b.c", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", odd} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		_, _, rf := d.verifyLink(context.Background(), tok)
		if rf != nil && (rf.status < http.StatusBadRequest || rf.status >= http.StatusInternalServerError) {
			t.Fatalf("token %q: status %d: %s", tok, rf.status, rf.reason)
		}
	})
}

// FuzzProofingLevel reads any identity_proofing_level and vot: the
// answer is P9 only when both say P9 (or the claim does and there is no
// vot), else P5 or a refusal; never more than either says.
func FuzzProofingLevel(f *testing.F) {
	for _, s := range [][2]string{{"P9", "P9.Cp.Cd"}, {"P9", "P5.Cp.Cd"}, {"P5", "P9.Cm"}, {"", ""}, {"P0", "P0.Cp"}, {"P9", ""}, {"P9", "P9"}, {"p9", "P9.Cp.Cd"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, claim, vot string) {
		got := proofingLevel(claim, vot)
		switch got {
		case "", "P5":
		case "P9":
			if claim != "P9" || (vot != "" && !strings.HasPrefix(vot, "P9.") && vot != "P9") {
				t.Fatalf("proofingLevel(%q, %q) = P9", claim, vot)
			}
		default:
			t.Fatalf("proofingLevel(%q, %q) = %q", claim, vot, got)
		}
	})
}
