package main

import (
	"context"
	"errors"
	"net/http"

	"ucp/fhir/resource"
	"ucp/fhir/service"
)

// Start-up loading, the demo and ucp bench are trusted code in process:
// they call the FHIR service itself, with the same rules as any client's
// writes, never HTTP.

// putResource creates or updates res, which carries its id (an update as
// create, as PUT does).
func putResource(ctx context.Context, svc *service.Service, res map[string]any) error {
	_, err := svc.Write(ctx, &service.Write{Interaction: "update", Method: http.MethodPut,
		Type: resource.Type(res), ID: resource.ID(res), Resource: res, CreateOnMissing: true})
	return err
}

// findOne returns the first current resource of typ matching query, or nil.
func findOne(ctx context.Context, svc *service.Service, typ, query string) (map[string]any, error) {
	vs, err := svc.Find(ctx, typ, query, 1)
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	return resource.Parse(vs[0].JSON)
}

// runBundle runs the writes of a transaction or batch Bundle; any entry
// that fails fails the call.
func runBundle(ctx context.Context, svc *service.Service, body []byte) error {
	b, err := resource.Parse(body)
	if err != nil {
		return err
	}
	results, err := svc.Bundle(ctx, b)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range results {
		errs = append(errs, r.Err)
	}
	return errors.Join(errs...)
}
