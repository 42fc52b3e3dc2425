package careplan

import (
	"context"
	"net/url"
	"strings"
	"sync"

	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/fhir/validate"
	"ucp/profiles"
	"ucp/store"
)

// ProfileSource finds StructureDefinitions for the validator: first the
// profiles embedded in package profiles, then those of the base package
// they derive from (UK Core, loaded at run time), then StructureDefinition
// resources stored on the server (POSTed at run time), by url. Without a
// base package, the UK Core profiles ours derive from are answered by
// stand-ins (profiles.StandIn), so that ours still validate against their
// own constraints.
type ProfileSource struct {
	st   Store
	reg  *search.Registry
	base BasePackage
	// embedded holds the parsed embedded profiles: they never change, and
	// parsing one per validated resource cost a bulk import 8% of its time.
	// The validator only reads the trees it is given.
	embedded sync.Map // canonical -> map[string]any
}

var _ validate.ProfileSource = (*ProfileSource)(nil)

// BasePackage is the published package our profiles derive from (UK
// Core), as fhirpkg.Package loads it.
type BasePackage interface {
	Profile(ctx context.Context, url string) (map[string]any, error)
	// Terminology returns the package's ValueSets and CodeSystems.
	Terminology() []map[string]any
}

// NewProfileSource returns a ProfileSource over the embedded profiles, the
// base package and the store. st and reg may be nil for the embedded
// profiles only; base is nil when UK Core is not loaded.
func NewProfileSource(st Store, reg *search.Registry, base BasePackage) *ProfileSource {
	return &ProfileSource{st: st, reg: reg, base: base}
}

// Profile implements validate.ProfileSource. A "|version" suffix selects a
// stored version when several are stored; embedded profiles have one.
func (s *ProfileSource) Profile(ctx context.Context, canonical string) (map[string]any, error) {
	if t, ok := s.embedded.Load(canonical); ok {
		return t.(map[string]any), nil
	}
	if r, ok := profiles.Lookup(canonical); ok && r.Type == "StructureDefinition" {
		t, _ := s.embedded.LoadOrStore(canonical, profiles.Tree(r.Raw))
		return t.(map[string]any), nil
	}
	if s.base != nil {
		if sd, err := s.base.Profile(ctx, canonical); sd != nil || err != nil {
			return sd, err
		}
	} else if sd, ok := profiles.StandIn(canonical); ok {
		t, _ := s.embedded.LoadOrStore(canonical, sd)
		return t.(map[string]any), nil
	}
	if s.st == nil || s.reg == nil {
		return nil, nil
	}
	u, ver, _ := strings.Cut(canonical, "|")
	q, err := s.reg.ParseCondition(ctx, "StructureDefinition", "url="+url.QueryEscape(u))
	if err != nil {
		return nil, err
	}
	q.Types = []string{"StructureDefinition"}
	q.Count = 20
	q.Total = store.TotalNone
	r, err := s.st.Search(ctx, *q)
	if err != nil {
		return nil, err
	}
	var found map[string]any
	for i := range r.Versions {
		res, err := parseVersion(&r.Versions[i])
		if err != nil {
			return nil, err
		}
		if resource.Str(res, "url") != u {
			continue
		}
		if ver == "" || resource.Str(res, "version") == ver {
			found = res
		}
	}
	return found, nil
}
