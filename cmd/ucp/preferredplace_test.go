package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"ucp/auth"
	"ucp/profiles"
)

// TestServePreferredPlacesAreObservations: what the CapabilityStatement
// advertises for preferred places (the UCPPreferredPlace Observation
// profile) is what the server holds: every entry of the "Preferred place of
// care and death" section of every published plan's document, the demo's and
// the synthetic patients' alike, is an Observation claiming that profile, and
// the patients' Goals (their wishes) are not filed as places.
func TestServePreferredPlacesAreObservations(t *testing.T) {
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true, DemoPatients: 4,
		MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
	srv := serveTest(t, cfg)
	tok := token(t, srv, auth.RoleClinical)
	getJSON := func(path string, v any) {
		t.Helper()
		code, _, b := call(t, "GET", srv.base+"/"+path, tok, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}

	var cs struct {
		Rest []struct {
			Resource []struct {
				Type             string
				SupportedProfile []string
			}
		}
	}
	getJSON("metadata", &cs)
	advertised := map[string][]string{}
	for _, r := range cs.Rest[0].Resource {
		advertised[r.Type] = r.SupportedProfile
	}
	if !slices.Contains(advertised["Observation"], profiles.ProfilePreferredPlace) {
		t.Fatalf("CapabilityStatement: Observation profiles %q lack %s", advertised["Observation"], profiles.ProfilePreferredPlace)
	}
	if slices.Contains(advertised["Goal"], profiles.ProfilePreferredPlace) {
		t.Fatalf("CapabilityStatement advertises %s for Goal", profiles.ProfilePreferredPlace)
	}

	type resource struct {
		ResourceType string
		Meta         struct{ Profile []string }
		Section      []struct {
			Title string
			Entry []struct{ Reference string }
		}
	}
	var docs struct{ Entry []struct{ Resource resource } }
	getJSON("Composition?_count=100", &docs)
	places := 0
	for _, e := range docs.Entry {
		for _, s := range e.Resource.Section {
			if s.Title != "Preferred place of care and death" {
				continue
			}
			for _, en := range s.Entry {
				places++
				var r resource
				getJSON(en.Reference, &r)
				if r.ResourceType != "Observation" || !slices.Contains(r.Meta.Profile, profiles.ProfilePreferredPlace) {
					t.Errorf("preferred place %s is a %s claiming %q, want an Observation claiming %s",
						en.Reference, r.ResourceType, r.Meta.Profile, profiles.ProfilePreferredPlace)
				}
			}
		}
	}
	if places == 0 || len(docs.Entry) < 2 {
		t.Fatalf("%d plan documents with %d preferred places: the demo should have several", len(docs.Entry), places)
	}
	// The demo patient's first choice is found as the profile says.
	var found struct{ Total int }
	getJSON("Observation?_summary=count&_profile="+profiles.ProfilePreferredPlace+
		"&subject:identifier="+profiles.SystemNHSNumber+"|9434765919&code="+profiles.SystemUCP+"|"+profiles.CodePreferredPlaceOfDeath, &found)
	if found.Total != 1 {
		t.Errorf("the demo patient has %d preferred places of death, want 1", found.Total)
	}
}
