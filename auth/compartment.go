package auth

import (
	"context"

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
