package synth

import (
	"crypto/sha1"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"ucp/profiles"
)

// SystemSynthetic is the identifier system of every generated resource that
// has no national identifier. The value is the resource's NDJSON id, so a
// loaded resource can always be found again (conditional references in the
// Bundle form rely on it).
const SystemSynthetic = "https://ucp.example.org/Id/synthetic"

// DefaultNow is the "today" of the synthetic world when Options.Now is zero.
// It is fixed so that output does not depend on when the generator runs.
var DefaultNow = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// Options control generation. The zero value of every field but Patients
// has a sensible default.
type Options struct {
	Patients int    // how many patients (each with one plan and its history)
	Seed     uint64 // same seed, same output, byte for byte
	// Now is the synthetic "today": plans were written up to two years
	// before it, and review dates fall after it. Default DefaultNow.
	Now time.Time
	// Practices is the number of GP practices the patients are registered
	// with. Default: one per 25 patients, at least 8 and at most 1,500
	// (London has about 1,400).
	Practices int
}

// An Entry is one resource, or one version of a resource, in the order a
// loader should apply it.
type Entry struct {
	// Resource is the resource, with its id and meta.profile set;
	// references are relative ("Patient/<id>", and
	// "CarePlan/<id>/_history/<n>" for a Provenance's target).
	Resource map[string]any
	Type, ID string
	// Version is 1 for a resource's first version, n for its nth (only plans
	// have more than one).
	Version int
	// Step is the point in the patient's story: 0 when the patient's record
	// is set up, k for the kth later change to the plan. The Bundle form
	// writes one transaction per step.
	Step int
	// Shared marks Organizations and Practitioners that several patients
	// use. A Record lists every shared resource its patient refers to;
	// FirstUse is true in the first Record that does, which is where the
	// NDJSON form writes it.
	Shared, FirstUse bool
	// IdentifierSystem and IdentifierValue identify the resource for
	// conditional create, update and references (NHS number, ODS code,
	// GMC or NMC number, or SystemSynthetic|id). Empty for Provenance,
	// which R4 gives no identifier.
	IdentifierSystem, IdentifierValue string
}

// A Record is everything generated for one patient.
type Record struct {
	Index   int // 0-based patient number
	Entries []Entry
	// Facts is what the generator decided for the patient, from which
	// Expected computes the measures without reading the resources.
	Facts *Facts
}

// A Writer consumes Records in order. NDJSON, Bundles and DirWriter are
// the provided ones.
type Writer interface {
	Write(*Record) error
}

// Generate generates opts.Patients patients and hands each Record to w as
// soon as it is complete, so memory does not grow with the number of
// patients (beyond a set of used NHS numbers). It stops at w's first error.
func Generate(opts Options, w Writer) error {
	if opts.Patients > MaxPatients {
		return fmt.Errorf("synth: at most %d patients per seed (the NHS number test range runs out)", MaxPatients)
	}
	g := newGenerator(opts)
	for i := 0; i < opts.Patients; i++ {
		if err := w.Write(g.patient(i)); err != nil {
			return err
		}
	}
	return nil
}

type practice struct {
	org *sharedRes
	gps []*sharedRes
	bor *borough
}

// A sharedRes is an Organization or Practitioner, built once and listed in
// every Record that refers to it.
type sharedRes struct {
	entry Entry
	used  bool
	name  string // display for references
}

type generator struct {
	opts      Options
	prefix    string // id prefix, unique per seed so datasets can share a server
	practices []*practice
	nurses    []*sharedRes
	doctors   []*sharedRes // palliative care consultants
	nhsUsed   map[uint32]bool
}

// newGenerator builds the shared world (practices, clinicians) from its own
// random stream, so the patients' streams are independent of it.
func newGenerator(opts Options) *generator {
	if opts.Now.IsZero() {
		opts.Now = DefaultNow
	}
	if opts.Practices <= 0 {
		opts.Practices = min(max(opts.Patients/25, 8), 1500)
	}
	g := &generator{opts: opts, prefix: "s" + strconv.FormatUint(opts.Seed, 36), nhsUsed: map[uint32]bool{}}
	r := rand.New(rand.NewPCG(opts.Seed, 0x5eed0f10d0))
	odsUsed := map[string]bool{}
	gmcUsed := map[int]bool{}
	sds := 0
	newGMC := func() string {
		for {
			n := 2000000 + r.IntN(5000000)
			if !gmcUsed[n] {
				gmcUsed[n] = true
				return strconv.Itoa(n)
			}
		}
	}
	newSDS := func() string { sds++; return fmt.Sprintf("5550%08d", sds*7+r.IntN(7)) }
	practitioner := func(id, family, given, prefix, regSystem, regValue string) *sharedRes {
		res := map[string]any{
			"resourceType": "Practitioner", "id": id, "meta": meta(profiles.ProfilePractitioner),
			"identifier": []any{ident(regSystem, regValue), ident(profiles.SystemSDSUserID, newSDS())},
			"name":       []any{humanName(family, []string{given}, prefix)},
			"active":     true,
		}
		narrative(res)
		return &sharedRes{entry: Entry{Resource: res, Type: "Practitioner", ID: id, Version: 1, Shared: true,
			IdentifierSystem: regSystem, IdentifierValue: regValue}, name: strings.TrimSpace(prefix + " " + given + " " + family)}
	}
	person := func() (family, given string) {
		grp := pickWeighted(r, nameGroups, func(n nameGroup) int { return n.weight })
		if r.IntN(2) == 0 {
			return pick(r, grp.family), pick(r, grp.female)
		}
		return pick(r, grp.family), pick(r, grp.male)
	}
	for i := 0; i < opts.Practices; i++ {
		b := &boroughs[r.IntN(len(boroughs))]
		var ods string
		for {
			ods = fmt.Sprintf("%s%03d", b.odsPrefix, r.IntN(1000))
			if !odsUsed[ods] {
				odsUsed[ods] = true
				break
			}
		}
		name := pick(r, streets) + " " + pick(r, practiceSuffixes)
		id := g.prefix + "-org-" + ods
		org := map[string]any{
			"resourceType": "Organization", "id": id, "meta": meta(profiles.ProfileOrganization),
			"identifier": []any{ident(profiles.SystemODSCode, ods)},
			"active":     true,
			"type":       []any{codeable("http://terminology.hl7.org/CodeSystem/organization-type", "prov", "Healthcare Provider", "")},
			"name":       name,
			"telecom":    []any{map[string]any{"system": "phone", "value": fmt.Sprintf("020 7946 %04d", r.IntN(1000)), "use": "work"}},
			"address":    []any{address(r, b)},
		}
		org["address"].([]any)[0].(map[string]any)["use"] = "work"
		narrative(org)
		p := &practice{bor: b, org: &sharedRes{entry: Entry{Resource: org, Type: "Organization", ID: id, Version: 1, Shared: true,
			IdentifierSystem: profiles.SystemODSCode, IdentifierValue: ods}, name: name}}
		for j := 0; j < 2+r.IntN(3); j++ {
			fam, giv := person()
			gmc := newGMC()
			p.gps = append(p.gps, practitioner(g.prefix+"-gmc-"+gmc, fam, giv, "Dr", profiles.SystemGMCNumber, gmc))
		}
		g.practices = append(g.practices, p)
	}
	for i := 0; i < 3+opts.Practices/3; i++ {
		fam, giv := person()
		nmc := fmt.Sprintf("%02d%c%04d%c", 70+r.IntN(30), 'A'+rune(r.IntN(26)), i, 'A'+rune(r.IntN(26)))
		g.nurses = append(g.nurses, practitioner(g.prefix+"-nmc-"+nmc, fam, giv, "", profiles.SystemNMCNumber, nmc))
	}
	for i := 0; i < 4+opts.Practices/15; i++ {
		fam, giv := person()
		gmc := newGMC()
		g.doctors = append(g.doctors, practitioner(g.prefix+"-gmc-"+gmc, fam, giv, "Dr", profiles.SystemGMCNumber, gmc))
	}
	return g
}

// nhsNumber draws an unused, valid NHS number in the 999 test range
// (999 000 000x to 999 999 999x: a million nine-digit prefixes, of which
// the 1 in 11 whose check value would be 10 are never issued). Collisions
// move on to the next prefix, deterministically.
func (g *generator) nhsNumber(r *rand.Rand) string {
	n := uint32(r.IntN(1_000_000))
	for {
		nine := fmt.Sprintf("999%06d", n)
		if cd := profiles.NHSCheckDigit(nine); cd >= 0 && !g.nhsUsed[n] {
			g.nhsUsed[n] = true
			return nine + strconv.Itoa(cd)
		}
		n = (n + 1) % 1_000_000
	}
}

// MaxPatients is how many patients one seed can have: the number of valid
// NHS numbers in the 999 test range.
const MaxPatients = 900_000

// uuidFor makes a name-based (version 5 layout) UUID from an id, so
// urn:uuid fullUrls are stable for a seed.
func uuidFor(id string) string {
	h := sha1.Sum([]byte("ucp-synth/" + id))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
