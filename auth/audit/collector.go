package audit

import (
	"context"
	"slices"

	"ucp/fhir/service"
	"ucp/store"
)

// Extractor computes a resource's index entries and compartment patients:
// *search.Registry.
type Extractor interface {
	Extract(res map[string]any) ([]store.Entry, []string, error)
	// Patients is the compartment part of Extract alone, much cheaper: it
	// runs for every resource a read returns.
	Patients(res map[string]any) ([]string, error)
}

// maxPatients bounds the patients one AuditEvent lists; a search page is
// far smaller, so reaching it means a system export, audited as such.
const maxPatients = 1000

func addPatient(list []string, ids ...string) []string {
	for _, id := range ids {
		if id != "" && len(list) < maxPatients && !slices.Contains(list, id) {
			list = append(list, id)
		}
	}
	return list
}

// CollectingReader is a service.ReadInterceptor that notes the patient(s) of
// every version an interaction returns in its Call's Disclosure, for the
// Sink's AuditEvent. It asks Next first: a version Next hides was not seen,
// so it is noted apart, and only a refused single read lists it (someone
// tried to see that patient).
type CollectingReader struct {
	Next service.ReadInterceptor // nil allows everything
	// Patients finds the compartment patients of non-Patient resources;
	// nil finds none.
	Patients *Patients
}

var _ service.TypeHider = CollectingReader{}

// AllowRead implements service.ReadInterceptor.
func (cr CollectingReader) AllowRead(ctx context.Context, v *store.Version, purpose service.Purpose, call *service.Call) error {
	var err error
	if cr.Next != nil {
		err = cr.Next.AllowRead(ctx, v, purpose, call)
	}
	d := call.Disclosed()
	if d == nil || v == nil || v.Deleted || purpose == service.Count {
		return err // a counted version is not returned: nothing was disclosed
	}
	ids := cr.Patients.of(v)
	if err == nil {
		d.Shown(ids...)
	} else {
		d.Refused(ids...)
	}
	return err
}

// MayHide implements service.TypeHider: CollectingReader hides what Next hides.
func (cr CollectingReader) MayHide(ctx context.Context, typ string) bool {
	if cr.Next == nil {
		return false
	}
	if h, ok := cr.Next.(service.TypeHider); ok {
		return h.MayHide(ctx, typ)
	}
	return true
}

// Patients finds the compartment patients of resources and stored versions
// under an Extractor's rules. It remembers them per version: finding them
// means parsing the whole resource, which cost more than any other step of
// auditing a read. One Patients is shared by the reader and the write
// interceptor of a server; it is safe for concurrent use.
type Patients struct {
	reg  Extractor
	memo store.VersionMemo[[]string]
}

// NewPatients returns a Patients using reg (a *search.Registry). A nil
// *Patients knows only that a Patient is its own.
func NewPatients(reg Extractor) *Patients { return &Patients{reg: reg} }

// ofResource returns the compartment patients of res, nil if unknown.
func (ps *Patients) ofResource(res map[string]any) []string {
	if ps == nil || ps.reg == nil || res == nil {
		return nil
	}
	p, err := ps.reg.Patients(res)
	if err != nil {
		return nil
	}
	return p
}

// of returns the compartment patients of v. A Patient is its own, without
// parsing; anything else is parsed and extracted once per version, which is
// the cost of knowing whose data a search returned. Callers only read the
// list (addPatient copies from it).
func (ps *Patients) of(v *store.Version) []string {
	if v.Type == "Patient" {
		return []string{v.ID}
	}
	if ps == nil || ps.reg == nil || v.JSON == nil {
		return nil
	}
	patients, err := ps.memo.Get(ps.reg, v, func() ([]string, error) {
		res, err := parseJSON(v.JSON)
		if err != nil {
			return nil, err
		}
		return ps.reg.Patients(res)
	})
	if err != nil {
		return nil
	}
	return patients
}
