package launch_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/auth/launch"
)

func TestParseLaunchingSystems(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "emis.secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "launchers.json")
	good := `[{"name": "EMIS Web", "iss": "https://emis.example/fhir", "client_id": "ucp", "client_secret_file": "emis.secret", "roles": {"R8000": "clinical"}}]`
	got, err := launch.ParseLaunchingSystems(name, []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	type sys struct {
		Name, Issuer, ClientID, Secret string
		Roles                          map[string]auth.Role
	}
	want := []sys{{"EMIS Web", "https://emis.example/fhir", "ucp", "s3cret", map[string]auth.Role{"R8000": auth.RoleClinical}}}
	var have []sys
	for _, ls := range got {
		have = append(have, sys{ls.Name, ls.Issuer, ls.ClientID, ls.ClientSecret, ls.Roles.Codes})
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ name, json, says string }{
		{"not an array", `{}`, "an array"},
		{"no iss", `[{"name": "x", "client_id": "ucp", "client_secret_file": "emis.secret"}]`, "needs name, iss"},
		{"secret and key", `[{"name": "x", "iss": "i", "client_id": "c", "client_secret_file": "emis.secret", "key_file": "k.pem"}]`, "one of"},
		{"missing secret file", `[{"name": "x", "iss": "i", "client_id": "c", "client_secret_file": "nope"}]`, "client_secret_file"},
		{"a role that is not staff", `[{"name": "x", "iss": "i", "client_id": "c", "client_secret_file": "emis.secret", "roles": {"R1": "patient"}}]`, "not a staff role"},
		{"iss twice", `[{"name": "x", "iss": "i", "client_id": "c", "client_secret_file": "emis.secret"}, {"name": "y", "iss": "i", "client_id": "c", "client_secret_file": "emis.secret"}]`, "given twice"},
		{"misspelt member", `[{"name": "x", "issuer": "i", "client_id": "c", "client_secret_file": "emis.secret"}]`, "issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := launch.ParseLaunchingSystems(name, []byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want one saying %q", err, tc.says)
			}
		})
	}
}
