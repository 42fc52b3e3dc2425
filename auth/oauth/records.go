package oauth

import (
	"context"
	"net/url"

	"ucp/fhir/outcome"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

// ServiceRecords answers Records through the FHIR service as the user in
// the context: the same authorizer, read filter and audit as the API.
type ServiceRecords struct {
	Service *service.Service
}

var _ Records = ServiceRecords{}

// PatientByNHSNumber implements Records.
func (sr ServiceRecords) PatientByNHSNumber(ctx context.Context, nhs string) (string, error) {
	if !profiles.ValidNHSNumber(nhs) {
		return "", outcome.Errorf(outcome.Invalid, "%q is not a valid NHS number", nhs)
	}
	vs, err := sr.Service.Find(ctx, "Patient", "identifier="+url.QueryEscape(profiles.SystemNHSNumber+"|"+nhs), 2)
	if err != nil {
		return "", err
	}
	switch len(vs) {
	case 0:
		return "", outcome.Errorf(outcome.NotFound, "ucp holds no record for NHS number %s", nhs)
	case 1:
		return vs[0].ID, nil
	}
	// Two records for one NHS number: opening either could be the wrong
	// one, so neither is opened.
	return "", outcome.Errorf(outcome.Conflict, "ucp holds more than one record for NHS number %s; ask the service desk to merge them", nhs)
}

// Patient implements Records.
func (sr ServiceRecords) Patient(ctx context.Context, id string) error {
	_, err := sr.Service.Read(ctx, "Patient", id)
	return err
}

// CurrentPlan implements Records: the patient's active care plan that the
// user may see, the most recently changed when there are several.
func (sr ServiceRecords) CurrentPlan(ctx context.Context, patient string) (string, error) {
	vs, err := sr.Service.Find(ctx, "CarePlan", "subject="+url.QueryEscape("Patient/"+patient)+"&status=active", 50)
	if err != nil {
		return "", err
	}
	var best *store.Version
	for i := range vs {
		if best == nil || vs[i].LastUpdated.After(best.LastUpdated) {
			best = &vs[i]
		}
	}
	if best == nil {
		return "", nil
	}
	return best.ID, nil
}
