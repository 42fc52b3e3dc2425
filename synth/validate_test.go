package synth_test

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"

	"ucp/careplan"
	"ucp/fhir/fhirpkg"
	"ucp/fhir/resource"
	"ucp/synth"
)

// TestGeneratedPatientsValidate runs the server's validator, with our
// profiles and terminology (and UK Core's when UKCORE_DIR is set), over every resource of 10,000 generated
// patients: generated data that a server would refuse is useless for tests
// and benchmarks.
func TestGeneratedPatientsValidate(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 500
	}
	// On UK Core when UKCORE_DIR names it, as the server runs with --ukcore.
	var base careplan.BasePackage
	if dir := os.Getenv("UKCORE_DIR"); dir != "" {
		uk, err := fhirpkg.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		base = uk
	}
	v := careplan.NewValidatorOn(nil, nil, base)
	records := make(chan *synth.Record, 64)
	var (
		mu        sync.Mutex
		failures  int
		resources int
		wg        sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range records {
				for _, e := range rec.Entries {
					// Validate what a server receives: the JSON text, parsed
					// (the generator's own values are Go ints, not json.Number).
					res, err := resource.Parse(resource.Marshal(e.Resource))
					if err != nil {
						t.Errorf("patient %d %s/%s: %v", rec.Index, e.Type, e.ID, err)
						continue
					}
					issues := v.Validate(context.Background(), res)
					mu.Lock()
					resources++
					for _, is := range issues {
						if is.Severity == "error" {
							failures++
							if failures <= 20 {
								t.Errorf("patient %d %s/%s v%d: %s at %s: %s", rec.Index, e.Type, e.ID, e.Version, is.Code, is.Expression, is.Message)
							}
						}
					}
					mu.Unlock()
				}
			}
		}()
	}
	err := synth.Generate(synth.Options{Patients: n, Seed: 20261121}, writer(func(r *synth.Record) error {
		records <- r
		return nil
	}))
	close(records)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d patients, %d resources validated, %d errors", n, resources, failures)
}

type writer func(*synth.Record) error

func (f writer) Write(r *synth.Record) error { return f(r) }
