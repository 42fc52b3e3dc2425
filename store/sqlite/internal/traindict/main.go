// Command traindict trains the zstd dictionary the SQLite store compresses
// stored JSON with (store/sqlite/zdict), from synthetic patients' resources
// and the AuditEvents of reads and searches of them (audit.Build), which
// make up the audit file.
//
// Run from the module root:
//
//	go run ./store/sqlite/internal/traindict -id 1 > store/sqlite/zdict/json-1.zdict
//
// A dictionary once shipped is never changed or removed: rows written with
// it name it by id and need it to read. A better one is added under the
// next id (see store/sqlite/compress.go).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/zstd"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/synth"
)

// idBase puts ucp's dictionary ids in the range RFC 8878 (5) leaves to
// private use: 0–32767 are reserved for registered dictionaries.
const idBase = 0x75630000 // "uc"

func main() {
	id := flag.Uint("id", 1, "the dictionary's version: ids are never reused")
	patients := flag.Int("patients", 2000, "synthetic patients to train on")
	seed := flag.Uint64("seed", 1, "their seed (the bench measures seed 7, so train on another)")
	size := flag.Int("size", 64<<10, "the dictionary's largest size in bytes")
	flag.Parse()
	if err := run(uint32(*id), *patients, *seed, *size); err != nil {
		fmt.Fprintln(os.Stderr, "traindict:", err)
		os.Exit(1)
	}
}

func run(id uint32, patients int, seed uint64, size int) error {
	var samples [][]byte
	rng := rand.New(rand.NewPCG(seed, 0x75637))
	w := synth.NDJSON(func(typ string, line []byte) error {
		samples = append(samples, append([]byte(nil), line...))
		if typ != "CarePlan" {
			return nil
		}
		var plan struct {
			ID      string
			Subject struct{ Reference string }
		}
		if err := json.Unmarshal(line, &plan); err != nil {
			return err
		}
		for _, e := range auditEvents(rng, plan.ID, plan.Subject.Reference) {
			b, err := json.Marshal(audit.Build(e))
			if err != nil {
				return err
			}
			samples = append(samples, b)
		}
		return nil
	})
	if err := synth.Generate(synth.Options{Patients: patients, Seed: seed}, w); err != nil {
		return err
	}
	d, err := dict.BuildZstdDict(samples, dict.Options{
		MaxDictSize: size,
		HashBytes:   6,
		ZstdDictID:  idBase + id,
		ZstdLevel:   zstd.SpeedDefault,
	})
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(d)
	return err
}

// auditEvents are what a care plan's day brings to the audit file: an
// urgent care clinician's search and read, and its author's update.
func auditEvents(rng *rand.Rand, plan, subject string) []*audit.Event {
	patient := subject[len("Patient/"):]
	at := synth.DefaultNow.Add(-time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
	n := rng.IntN(900000) + 100000
	viewer := &auth.Principal{Issuer: "https://cis2", Subject: fmt.Sprintf("sub-%d", n), UserID: fmt.Sprintf("5550%08d", n),
		Name: fmt.Sprintf("Paramedic %d", n), Role: auth.RoleView, RoleCode: "S8000:G8000:R8003", RoleName: "Paramedic",
		Org: fmt.Sprintf("R%02d", rng.IntN(99)), ClientID: "ambulance-epr", TokenID: fmt.Sprintf("jti-%d", rng.Int64()),
		FHIRUser: fmt.Sprintf("https://example.org/fhir/Practitioner/%d", n)}
	author := &auth.Principal{Issuer: "https://cis2", Subject: fmt.Sprintf("sub-%d", n+1), UserID: fmt.Sprintf("5550%08d", n+1),
		Name: fmt.Sprintf("Dr %d", n+1), Role: auth.RoleClinical, RoleCode: "S8000:G8000:R8000", RoleName: "Clinical Practitioner Access Role",
		Org: fmt.Sprintf("F%05d", rng.IntN(99999)), ClientID: "gp-system", TokenID: fmt.Sprintf("jti-%d", rng.Int64())}
	return []*audit.Event{
		{Interaction: "search-type", Type: "CarePlan", Query: "subject=" + subject + "&status=active&_include=CarePlan:subject",
			Status: 200, Patients: []string{patient}, Principal: viewer, Time: at},
		{Interaction: "read", Type: "CarePlan", ID: plan, Status: 200, Patients: []string{patient}, Principal: viewer, Time: at.Add(time.Second)},
		{Interaction: "read", Type: "Patient", ID: patient, Status: 200, Patients: []string{patient}, Principal: viewer, Time: at.Add(2 * time.Second)},
		{Interaction: "update", Type: "CarePlan", ID: plan, Version: 2, Patients: []string{patient}, Principal: author, Time: at.Add(time.Hour)},
	}
}
