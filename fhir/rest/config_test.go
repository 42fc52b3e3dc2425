package rest_test

import (
	"path/filepath"
	"testing"

	"ucp/fhir/rest"
	"ucp/fhir/search"
	"ucp/store/sqlite"
)

// The registry is shared by every door (the API, bulk import, exports), so
// the server that uses it reads its base URL and never sets it: a server
// whose base URL the registry was not given refuses to start rather than
// index its own absolute references as remote ones.
func TestNewDoesNotChangeTheRegistry(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tests := []struct {
		name        string
		registryURL string
		serverURL   string
		wantErr     bool
	}{
		{"no base URL", "", "", false},
		{"the same", "https://ucp.example.org/fhir", "https://ucp.example.org/fhir/", false},
		{"the registry's is unset", "", "https://ucp.example.org/fhir", true},
		{"they differ", "https://other.example.org/fhir", "https://ucp.example.org/fhir", true},
		{"the server's is derived per request", "https://ucp.example.org/fhir", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := search.NewRegistry()
			if err != nil {
				t.Fatal(err)
			}
			reg.SetBaseURL(tt.registryURL)
			_, err = rest.New(rest.Config{Store: st, Registry: reg, Types: reg.Types(), BaseURL: tt.serverURL})
			if (err != nil) != tt.wantErr {
				t.Errorf("rest.New: %v, want error %v", err, tt.wantErr)
			}
			if got := reg.BaseURL(); got != tt.registryURL {
				t.Errorf("registry base URL after rest.New = %q, want %q unchanged", got, tt.registryURL)
			}
		})
	}
}
