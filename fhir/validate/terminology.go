package validate

import (
	"errors"
	"strings"
	"sync"

	"ucp/fhir/fhirpath"
)

// Terminology answers whether a code is in a value set, for bindings in
// profiles and memberOf() in invariants.
type Terminology interface {
	// ValidateCode reports whether the code (with its system; system is ""
	// for a bare code element) is in the value set named by its canonical URL
	// (a "|version" suffix may be present). known is false when the value set
	// is unknown or cannot be expanded, and then ok means nothing.
	ValidateCode(valueSetURL, system, code string) (ok, known bool)
}

// coreTerminology knows the value sets of the core required bindings
// generated into this package.
type coreTerminology struct{}

func (coreTerminology) ValidateCode(vs, system, code string) (ok, known bool) {
	vs, _, _ = strings.Cut(vs, "|")
	codes, known := coreValueSets[vs]
	if !known {
		return false, false
	}
	for _, c := range codes {
		if c.Code == code && (system == "" || c.System == system) {
			return true, true
		}
	}
	return false, true
}

// MemoryTerminology is a Terminology over ValueSet and CodeSystem resources
// held in memory. It expands compose.include entries that enumerate concepts
// or include a whole CodeSystem it holds (with its nested concepts), includes
// of other value sets, and compose.exclude of enumerated concepts. Value sets
// using filters are unknown (known = false), as are those including a code
// system it does not hold. It falls back to the core value sets of this
// package. Safe for concurrent use after construction.
type MemoryTerminology struct {
	mu          sync.Mutex
	valueSets   map[string]map[string]any
	codeSystems map[string]map[string]any
	expanded    map[string]map[sysCode]bool // nil value: cannot expand
}

var _ Terminology = (*MemoryTerminology)(nil)

// NewMemoryTerminology returns a terminology holding the given ValueSet and
// CodeSystem resources; other resources are ignored.
func NewMemoryTerminology(resources ...map[string]any) *MemoryTerminology {
	t := &MemoryTerminology{valueSets: map[string]map[string]any{}, codeSystems: map[string]map[string]any{},
		expanded: map[string]map[sysCode]bool{}}
	for _, r := range resources {
		t.Add(r)
	}
	return t
}

// Add adds a ValueSet or CodeSystem resource (keyed by its url), replacing
// one with the same url.
func (t *MemoryTerminology) Add(res map[string]any) {
	url, _ := res["url"].(string)
	if url == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch res["resourceType"] {
	case "ValueSet":
		t.valueSets[url] = res
	case "CodeSystem":
		t.codeSystems[url] = res
	default:
		return
	}
	clear(t.expanded) // an expansion may depend on what changed
}

// ValidateCode implements Terminology.
func (t *MemoryTerminology) ValidateCode(vs, system, code string) (ok, known bool) {
	vs, _, _ = strings.Cut(vs, "|")
	t.mu.Lock()
	set, done := t.expanded[vs]
	if !done {
		set = t.expand(vs, 0)
		t.expanded[vs] = set
	}
	t.mu.Unlock()
	if set == nil {
		return coreTerminology{}.ValidateCode(vs, system, code)
	}
	if system != "" {
		return set[sysCode{system, code}], true
	}
	for c := range set {
		if c.Code == code {
			return true, true
		}
	}
	return false, true
}

// expand lists a value set's codes, or nil when it cannot.
func (t *MemoryTerminology) expand(url string, depth int) map[sysCode]bool {
	vs := t.valueSets[url]
	if vs == nil || depth > 8 {
		if codes, ok := coreValueSets[url]; ok {
			out := make(map[sysCode]bool, len(codes))
			for _, c := range codes {
				out[c] = true
			}
			return out
		}
		return nil
	}
	compose, _ := vs["compose"].(map[string]any)
	out := map[sysCode]bool{}
	incs, _ := compose["include"].([]any)
	for _, inc := range incs {
		m, _ := inc.(map[string]any)
		if m == nil || m["filter"] != nil {
			return nil
		}
		if refs, ok := m["valueSet"].([]any); ok {
			for _, r := range refs {
				s, _ := r.(string)
				s, _, _ = strings.Cut(s, "|")
				sub := t.expand(s, depth+1)
				if sub == nil {
					return nil
				}
				for c := range sub {
					out[c] = true
				}
			}
		}
		system, _ := m["system"].(string)
		if system == "" {
			continue
		}
		if concepts, ok := m["concept"].([]any); ok {
			for _, c := range concepts {
				if cm, ok := c.(map[string]any); ok {
					if code, ok := cm["code"].(string); ok {
						out[sysCode{system, code}] = true
					}
				}
			}
			continue
		}
		cs := t.codeSystems[system]
		if cs == nil {
			return nil
		}
		var walk func(v any)
		walk = func(v any) {
			list, _ := v.([]any)
			for _, c := range list {
				if cm, ok := c.(map[string]any); ok {
					if code, ok := cm["code"].(string); ok {
						out[sysCode{system, code}] = true
					}
					walk(cm["concept"])
				}
			}
		}
		walk(cs["concept"])
	}
	excs, _ := compose["exclude"].([]any)
	for _, ex := range excs {
		m, _ := ex.(map[string]any)
		system, _ := m["system"].(string)
		concepts, ok := m["concept"].([]any)
		if !ok {
			return nil
		}
		for _, c := range concepts {
			if cm, ok := c.(map[string]any); ok {
				code, _ := cm["code"].(string)
				delete(out, sysCode{system, code})
			}
		}
	}
	return out
}

var errUnknownValueSet = errors.New("unknown value set")

// memberOf adapts a Terminology to fhirpath.Env.MemberOf.
func memberOf(t Terminology) func(fhirpath.Item, string) (bool, error) {
	return func(it fhirpath.Item, vs string) (bool, error) {
		ok, known := codeIn(t, vs, it.Data())
		if !known {
			return false, errUnknownValueSet
		}
		return ok, nil
	}
}

// codeIn checks a code (string), Coding or CodeableConcept value against a
// value set: a CodeableConcept is in it when one of its codings is.
func codeIn(t Terminology, vs string, v any) (ok, known bool) {
	switch v := v.(type) {
	case string:
		return t.ValidateCode(vs, "", v)
	case map[string]any:
		if codings, isCC := v["coding"].([]any); isCC {
			known = true
			for _, c := range codings {
				if cm, _ := c.(map[string]any); cm != nil {
					ok, k := codeIn(t, vs, cm)
					if ok {
						return true, true
					}
					known = known && k
				}
			}
			return false, known
		}
		code, _ := v["code"].(string)
		if code == "" {
			return false, true
		}
		system, _ := v["system"].(string)
		return t.ValidateCode(vs, system, code)
	}
	return false, false
}

// sysCode is a code with its system.
type sysCode struct{ System, Code string }
