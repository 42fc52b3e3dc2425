package nhslogintest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/auth/launch/nhslogintest"
)

const redirect = "http://127.0.0.1:1/callback"

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}

func start(t *testing.T) (*nhslogintest.Server, *auth.SigningKey) {
	t.Helper()
	key, err := auth.NewSigningKey("RS512")
	if err != nil {
		t.Fatal(err)
	}
	op := nhslogintest.Start(t, []nhslogintest.Client{{ID: "rp", RedirectURIs: []string{redirect}, JWKS: key.JWKS()}},
		nhslogintest.User{Sub: "u9", NHSNumber: "9434765919", Proofing: "P9"})
	return op, key
}

const verifier = "a-pkce-verifier-of-enough-length-for-the-test-0123456789"

// code runs the authorization request for u with vtr and returns the
// redirect's query.
func code(t *testing.T, op *nhslogintest.Server, vtr string) url.Values {
	t.Helper()
	sum := sha256.Sum256([]byte(verifier))
	f := url.Values{"response_type": {"code"}, "client_id": {"rp"}, "redirect_uri": {redirect}, "scope": {"openid profile"},
		"state": {"s"}, "nonce": {"n"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"user": {"u9"}}
	if vtr != "" {
		f.Set("vtr", vtr)
	}
	resp, err := noFollow.PostForm(op.URL()+"/authorize", f)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(u.String(), redirect) {
		t.Fatalf("authorize: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return u.Query()
}

func assertion(t *testing.T, key *auth.SigningKey, alg jose.SignatureAlgorithm, edit func(c map[string]any)) string {
	t.Helper()
	c := map[string]any{"iss": "rp", "sub": "rp", "aud": "", "jti": auth.NewJTI(), "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()}
	if edit != nil {
		edit(c)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key.Signer(), KeyID: key.KeyID()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func exchange(t *testing.T, op *nhslogintest.Server, f url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(op.URL()+"/token", f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestTokenEndpointRequiresPrivateKeyJWT(t *testing.T) {
	op, key := start(t)
	other, _ := auth.NewSigningKey("RS512")
	aud := op.URL() + "/token"
	withAud := func(more func(map[string]any)) func(map[string]any) {
		return func(c map[string]any) {
			c["aud"] = aud
			if more != nil {
				more(c)
			}
		}
	}
	replayed := assertion(t, key, jose.RS512, withAud(nil))
	for _, tc := range []struct {
		name   string
		form   func(code string) url.Values
		status int
		error  string
	}{
		{"a good assertion", func(code string) url.Values { return form(code, replayed) }, 200, ""},
		{"the same assertion again", func(code string) url.Values { return form(code, replayed) }, 401, "invalid_client"},
		{"a client secret", func(code string) url.Values {
			f := form(code, "")
			f.Del("client_assertion_type")
			f.Set("client_secret", "s")
			return f
		}, 401, "invalid_client"},
		{"an RS256 assertion", func(code string) url.Values { return form(code, assertion(t, key, jose.RS256, withAud(nil))) }, 401, "invalid_client"},
		{"another key", func(code string) url.Values {
			return form(code, assertion(t, other, jose.RS512, withAud(func(c map[string]any) {})))
		}, 401, "invalid_client"},
		{"aud not the token endpoint", func(code string) url.Values { return form(code, assertion(t, key, jose.RS512, nil)) }, 401, "invalid_client"},
		{"exp ten minutes ahead", func(code string) url.Values {
			return form(code, assertion(t, key, jose.RS512, withAud(func(c map[string]any) { c["exp"] = time.Now().Add(10 * time.Minute).Unix() })))
		}, 401, "invalid_client"},
		{"expired", func(code string) url.Values {
			return form(code, assertion(t, key, jose.RS512, withAud(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Second).Unix() })))
		}, 401, "invalid_client"},
		{"no jti", func(code string) url.Values {
			return form(code, assertion(t, key, jose.RS512, withAud(func(c map[string]any) { delete(c, "jti") })))
		}, 401, "invalid_client"},
		{"sub not the client", func(code string) url.Values {
			return form(code, assertion(t, key, jose.RS512, withAud(func(c map[string]any) { c["sub"] = "someone" })))
		}, 401, "invalid_client"},
		{"a wrong PKCE verifier", func(code string) url.Values {
			f := form(code, assertion(t, key, jose.RS512, withAud(nil)))
			f.Set("code_verifier", "wrong")
			return f
		}, 400, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := code(t, op, `["P9.Cp.Cd"]`)
			status, out := exchange(t, op, tc.form(q.Get("code")))
			got := struct {
				Status int
				Error  string
			}{status, str(out["error"])}
			want := struct {
				Status int
				Error  string
			}{tc.status, tc.error}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("token (-want +got):\n%s\n%v", diff, out)
			}
			if status != 200 {
				return
			}
			idt, err := jwt.ParseSigned(str(out["id_token"]), []jose.SignatureAlgorithm{jose.RS512})
			if err != nil {
				t.Fatalf("ID token not RS512: %v", err)
			}
			var cl map[string]any
			if err := idt.UnsafeClaimsWithoutVerification(&cl); err != nil {
				t.Fatal(err)
			}
			if cl["vot"] != "P9.Cp.Cd" || cl["nonce"] != "n" || cl["nhs_number"] != nil {
				t.Errorf("ID token claims %v: want vot P9.Cp.Cd, nonce n and no nhs_number (userinfo has it)", cl)
			}
		})
	}
}

func form(code, assertion string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier},
		"client_id": {"rp"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
}

func str(v any) string { s, _ := v.(string); return s }

func TestAuthorizeChecks(t *testing.T) {
	op, _ := start(t)
	for _, tc := range []struct {
		name   string
		edit   func(url.Values)
		status int
		error  string // in the redirect
	}{
		{"unregistered redirect_uri: no redirect", func(f url.Values) { f.Set("redirect_uri", "https://evil.example/cb") }, 400, ""},
		{"unknown client: no redirect", func(f url.Values) { f.Set("client_id", "nobody") }, 400, ""},
		{"vtr not JSON", func(f url.Values) { f.Set("vtr", "P9.Cp.Cd") }, 303, "invalid_request"},
		{"vtr with an unknown vector", func(f url.Values) { f.Set("vtr", `["P7.Cp.Cd"]`) }, 303, "invalid_request"},
		{"no openid scope", func(f url.Values) { f.Set("scope", "profile") }, 303, "invalid_scope"},
		{"no nonce", func(f url.Values) { f.Del("nonce") }, 303, "invalid_request"},
		{"plain PKCE", func(f url.Values) { f.Set("code_challenge_method", "plain") }, 303, "invalid_request"},
		{"a good request", func(f url.Values) {}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{"response_type": {"code"}, "client_id": {"rp"}, "redirect_uri": {redirect}, "scope": {"openid"},
				"state": {"s"}, "nonce": {"n"}, "vtr": {`["P9.Cp.Cd"]`}, "code_challenge": {"x"}, "code_challenge_method": {"S256"}}
			tc.edit(f)
			resp, err := noFollow.Get(op.URL() + "/authorize?" + f.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != tc.status || loc.Query().Get("error") != tc.error {
				t.Errorf("%d to %q, want %d with error %q", resp.StatusCode, loc, tc.status, tc.error)
			}
		})
	}
}

func TestUserinfoNeedsTheAccessToken(t *testing.T) {
	op, _ := start(t)
	req, _ := http.NewRequest("GET", op.URL()+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer made-up")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("%d, want 401", resp.StatusCode)
	}
}

// FuzzParseVTR: any vtr is either refused or a non-empty list of NHS
// login's vectors; never a panic.
func FuzzParseVTR(f *testing.F) {
	for _, s := range []string{"", `["P9.Cp.Cd"]`, `["P5.Cm","P9.Cm"]`, `[]`, `["P7"]`, `"P9.Cp.Cd"`, `[1]`, `{"a":1}`, `["P9.Cp.Cd",null]`} {
		f.Add(s)
	}
	known := map[string]bool{"P0.Cp": true, "P0.Cp.Cd": true, "P0.Cp.Ck": true, "P0.Cm": true, "P5.Cp.Cd": true, "P5.Cp.Ck": true, "P5.Cm": true,
		"P9.Cp.Cd": true, "P9.Cp.Ck": true, "P9.Cm": true}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := nhslogintest.ParseVTR(v)
		if err != nil {
			return
		}
		if len(got) == 0 {
			t.Fatalf("ParseVTR(%q) = no vectors, no error", v)
		}
		for _, x := range got {
			if !known[x] {
				t.Fatalf("ParseVTR(%q) accepted %q", v, x)
			}
		}
	})
}
