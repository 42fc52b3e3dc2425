package auth

import (
	"context"
	"slices"

	"ucp/store"
)

// StoreCompartment is the CompartmentFunc of a running server: a resource is
// in a patient's compartment when the store's compartment index (the
// Patients the REST layer recorded with its current version, from the R4
// Patient CompartmentDefinition) names that patient. It is the same test
// as a compartment search (GET Patient/{id}/{type}?_id={id}), so what a
// patient may read by id and what they find by searching agree.
//
// It asks about the current version. A vread or history of a resource that
// is now the patient's therefore also shows its earlier versions, which is
// how a patient follows the changes to their own plan; an urgent care plan
// never changes patient (package careplan), so those are theirs too. A
// deleted resource is in nobody's compartment.
func StoreCompartment(st store.Store) CompartmentFunc {
	return func(ctx context.Context, patient, typ, id string) (bool, error) {
		if patient == "" || typ == "" || id == "" {
			return false, nil
		}
		res, err := st.Search(ctx, store.Query{
			Types:   []string{typ},
			Patient: patient,
			Where:   []store.Clause{{Any: []store.Cond{{Param: "_id", Type: store.Token, Code: id}}}},
			Count:   1,
			Total:   store.TotalNone,
		})
		if err != nil {
			return false, err
		}
		return len(res.Versions) > 0, nil
	}
}

// PatientsFunc returns the ids of the Patients in whose compartment res
// would be (search.Registry.Patients, the same extraction the store's
// compartment index is written from).
type PatientsFunc func(res map[string]any) ([]string, error)

// AuthorizeContent checks, before it is stored, where a write's new content
// lands: a caller bound to a patient (a patient, or a staff app acting only
// through patient/ scopes) may write only into that patient's compartment,
// and only into theirs. Authorize has already checked that an update's or
// patch's current version is theirs; this checks what it becomes, so that
// nobody files a QuestionnaireResponse, or moves a resource, into another
// patient's record. Other callers are not restricted here.
func (pol *Policy) AuthorizeContent(ctx context.Context, interaction, typ string, res map[string]any) error {
	patient, bound := patientBound(FromContext(ctx), interaction, typ)
	if !bound || res == nil {
		return nil
	}
	if pol.Patients == nil {
		return forbidden("the server cannot tell whose record this %s would be in, so a patient may not write it", typ)
	}
	ids, err := pol.Patients(res)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return forbidden("this %s would be in no patient's record: a patient writes only into their own (name Patient/%s)", typ, patient)
	}
	if slices.ContainsFunc(ids, func(id string) bool { return id != patient }) {
		return forbidden("this %s refers to another patient: a patient writes only into their own record", typ)
	}
	return nil
}

// patientBound reports whether p's write is allowed only within a patient's
// compartment, and whose: as scopesAllow decides, a patient always is, and
// staff are when their user/ scopes do not cover the write but their
// patient/ scopes (of a launch on a patient) do.
func patientBound(p *Principal, interaction, typ string) (string, bool) {
	switch {
	case p == nil || p.Role == RoleSystem:
		return "", false
	case p.Role == RolePatient:
		return p.Patient, true
	case p.Patient != "" && !p.Scopes.AllowsQuery(LevelUser, interaction, typ, ""):
		return p.Patient, true
	}
	return "", false
}
