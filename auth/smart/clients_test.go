package smart_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/auth/smart"
)

// A public key for the cases below (the one in testdata/clients.json).
const testJWK = `{"kty": "EC", "crv": "P-256", "kid": "cad-2026", "x": "Bk9GmGFLz3cSGFmjyq-csfLPbDUm2VTOx8IJMeSTq84", "y": "0TFqkTWSysaNO_ZTfOOUL1pOPwnNg__De3XKeFUeqB0"}`

func TestLoadClients(t *testing.T) {
	reg, err := smart.LoadClients("testdata/clients.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := reg.Client(context.Background(), "london-ambulance-cad")
	if err != nil {
		t.Fatal(err)
	}
	if c.Org != "RRU" || c.Scope != "system/CarePlan.rs system/Patient.rs" || len(c.JWKS.Keys) != 1 || c.IsApp() {
		t.Errorf("client = %+v", c)
	}
	// One app of each kind beside the system client.
	for id, method := range map[string]string{"care-plan-viewer": smart.AuthNone, "hospice-portal": smart.AuthClientSecretBasic, "rota-app": smart.AuthPrivateKeyJWT} {
		c, err := reg.Client(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !c.IsApp() || c.AuthMethod != method {
			t.Errorf("%s: app %v, method %q; want an app with %q", id, c.IsApp(), c.AuthMethod, method)
		}
	}
}

func TestParseClientsRejects(t *testing.T) {
	// client builds a one-client file whose members are members (after
	// client_id), one to a line.
	client := func(members ...string) string {
		return "[\n  {\n    \"client_id\": \"cad\",\n    " + strings.Join(members, ",\n    ") + "\n  }\n]"
	}
	jwks := `"jwks": {"keys": [` + testJWK + `]}`
	for _, test := range []struct {
		name, in, want string
	}{
		{"misspelt member", client(`"scopes": "system/*.rs"`, jwks),
			`clients.json:4:5: unknown field "scopes"`},
		{"scope not a string", client(`"scope": ["system/*.rs"]`, jwks),
			`clients.json:4:5: "scope": want string, found a JSON array`},
		{"disabled not a boolean", client(`"scope": "system/*.rs"`, jwks, `"disabled": "yes"`),
			`clients.json:6:5: "disabled": want bool, found a JSON string`},
		{"user scope", client(`"scope": "user/*.rs"`, jwks),
			`clients.json:2:3: client "cad": scope "user/*.rs" is not a system scope`},
		{"no keys", client(`"scope": "system/*.rs"`),
			`clients.json:2:3: client "cad": no keys`},
		{"private key", client(`"scope": "system/*.rs"`, `"jwks": {"keys": [`+strings.TrimSuffix(testJWK, "}")+`, "d": "sy5mv6Ny1K0dayvlGi1CZuhNMx-buWYaYE_XV73Ho90"}]}`),
			`clients.json:2:3: client "cad": every key must be a valid public key with a kid`},
		{"no client_id", "[{\"scope\": \"system/*.rs\", " + jwks + "}]",
			`clients.json:1:2: client: client_id is required`},
		{"twice", "[\n  {\"client_id\": \"cad\", \"scope\": \"system/*.rs\", " + jwks + "},\n  {\"client_id\": \"cad\", \"scope\": \"system/*.rs\", " + jwks + "}\n]",
			`clients.json:3:3: client "cad" registered twice`},
		{"an object, not an array", `{"client_id": "cad"}`,
			`clients.json:1:1: want an array of clients [{"client_id": ...}], found "{"`},
		{"empty", `[]`, `clients.json:1:1: no clients: register at least one, or leave out --clients`},
		{"app with a fragment in its redirect_uri", client(`"redirect_uris": ["https://app.example/cb#x"]`, `"token_endpoint_auth_method": "none"`),
			`clients.json:2:3: client "cad": redirect_uri "https://app.example/cb#x" must be an absolute http(s) URL without a fragment`},
		{"app with an unknown auth method", client(`"redirect_uris": ["https://app.example/cb"]`, `"token_endpoint_auth_method": "client_secret_post"`),
			`clients.json:2:3: client "cad": token_endpoint_auth_method must be one of none, client_secret_basic, private_key_jwt`},
		{"public app with keys", client(`"redirect_uris": ["https://app.example/cb"]`, `"token_endpoint_auth_method": "none"`, jwks),
			`clients.json:2:3: client "cad": a public app (none) has no client_secret_hash and no jwks`},
		{"symmetric app with a plain secret", client(`"redirect_uris": ["https://app.example/cb"]`, `"token_endpoint_auth_method": "client_secret_basic"`, `"client_secret_hash": "s3cret"`),
			`clients.json:2:3: client "cad": client_secret_hash must be a bcrypt hash of the secret: crypto/bcrypt: hashedSecret too short to be a bcrypted password`},
		{"asymmetric app key without RS384 or ES384", client(`"redirect_uris": ["https://app.example/cb"]`, `"token_endpoint_auth_method": "private_key_jwt"`, jwks),
			`clients.json:2:3: client "cad": every key needs the same alg, RS384 or ES384`},
		{"app with system scopes", client(`"redirect_uris": ["https://app.example/cb"]`, `"token_endpoint_auth_method": "none"`, `"scope": "system/*.rs"`),
			`clients.json:2:3: client "cad": scope "system/*.rs": an app is granted user and patient scopes, not system ones`},
		{"app as a launcher", client(`"redirect_uris": ["https://app.example/cb"]`, `"token_endpoint_auth_method": "none"`, `"ehr_launch": true`),
			`clients.json:2:3: client "cad": ehr_launch and in_context_launch are for launchers (GP systems), not apps`},
		{"system client with an app's auth method", client(`"scope": "system/*.rs"`, jwks, `"token_endpoint_auth_method": "none"`),
			`clients.json:2:3: client "cad": token_endpoint_auth_method and client_secret_hash are for apps, which need redirect_uris`},
		{"malformed", "[\n  {\"client_id\": \"cad\",}\n]", `clients.json:2:23: malformed JSON: invalid character '}' looking for beginning of object key string`},
	} {
		t.Run(test.name, func(t *testing.T) {
			_, err := smart.ParseClients("clients.json", []byte(test.in))
			got := "<nil>"
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(test.want, got); diff != "" {
				t.Errorf("ParseClients(%s) error mismatch (-want +got):\n%s", test.in, diff)
			}
		})
	}
}
