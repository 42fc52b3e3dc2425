package profiles_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ucp/careplan"
	"ucp/fhir/fhirpkg"
	"ucp/fhir/resource"
	"ucp/fhir/validate"
	"ucp/profiles"
)

// validators are the validators the server uses: our profiles, ValueSets
// and CodeSystems on stand-ins for UK Core ("standalone", as when it runs
// without --ukcore), and, when UKCORE_DIR names the UK Core package, on UK
// Core itself ("ukcore").
func validators(t *testing.T) map[string]*validate.Validator {
	t.Helper()
	terms := append(profiles.ValueSets(), profiles.CodeSystems()...)
	sds := profiles.StructureDefinitions()
	for _, u := range profiles.UKCoreBases() {
		sd, _ := profiles.StandIn(u)
		sds = append(sds, sd)
	}
	vs := map[string]*validate.Validator{"standalone": validate.New(validate.Options{
		Profiles:    validate.NewProfileMap(sds...),
		Terminology: validate.NewMemoryTerminology(terms...),
	})}
	if dir := os.Getenv("UKCORE_DIR"); dir != "" {
		uk, err := fhirpkg.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		vs["ukcore"] = careplan.NewValidatorOn(nil, nil, uk)
	}
	return vs
}

func readExample(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := resource.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestValidExamplesValidate(t *testing.T) {
	files, _ := filepath.Glob("../testdata/profiles/valid/*.json")
	if len(files) == 0 {
		t.Fatal("no valid examples")
	}
	for name, v := range validators(t) {
		for _, f := range files {
			t.Run(name+"/"+filepath.Base(f), func(t *testing.T) {
				for _, is := range v.Validate(context.Background(), readExample(t, f)) {
					if is.Severity == "error" {
						t.Errorf("%s at %s: %s", is.Code, is.Expression, is.Message)
					}
				}
			})
		}
	}
}

// TestInvalidExamplesFail checks that each invalid example fails with the
// issue code and at the location its manifest entry names.
func TestInvalidExamplesFail(t *testing.T) {
	data, err := os.ReadFile("../testdata/profiles/invalid/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Examples []struct {
			File, Profile, Code, Location, Key string
		}
	}
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Examples) < 30 {
		t.Fatalf("%d invalid examples, want at least 30", len(manifest.Examples))
	}
	for name, v := range validators(t) {
		for _, ex := range manifest.Examples {
			t.Run(name+"/"+ex.File, func(t *testing.T) {
				issues := v.Validate(context.Background(), readExample(t, filepath.Join("../testdata/profiles/invalid", ex.File)))
				var got []string
				for _, is := range issues {
					if is.Severity != "error" {
						continue
					}
					got = append(got, is.Code+" at "+is.Expression+": "+is.Message)
					if is.Code == ex.Code && is.Expression == ex.Location && (ex.Key == "" || strings.Contains(is.Message, ex.Key)) {
						return
					}
				}
				t.Errorf("want %s at %s (key %q); got %d errors:\n%s", ex.Code, ex.Location, ex.Key, len(got), strings.Join(got, "\n"))
			})
		}
	}
}
