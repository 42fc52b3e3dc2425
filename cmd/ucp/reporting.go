package main

import (
	"ucp/careplan"
	"ucp/fhir/rest"
)

// registerReporting adds the operations that write or read through the API
// server's own service, and so can only be registered once it is built:
// Patient/{id}/$record-death.
func registerReporting(api *rest.Server, plans *careplan.Plans) error {
	return api.RegisterOperation(plans.RecordDeathOperation(api.Service()))
}
