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
	if c.Org != "RRU" || c.Scope != "system/CarePlan.rs system/Patient.rs" || len(c.JWKS.Keys) != 1 {
		t.Errorf("client = %+v", c)
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
