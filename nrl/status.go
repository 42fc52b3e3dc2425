package nrl

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"ucp/auth"
	"ucp/fhir/service"
	"ucp/profiles"
)

// StatusOperation is $nrl-status at system level: the failed and pending
// outbox jobs, for those who may read the audit (auth.OperationPolicy
// authorises it as a search of AuditEvent). It answers a Parameters
// resource: the counts (pending, failed) and each job's Task. The jobs are
// read as Principal: the caller is authorised by the operation, and a job
// is the service's own record.
func StatusOperation(svc Service) service.Operation {
	return service.Operation{
		Name:          "nrl-status",
		Definition:    strings.Replace(profiles.BaseURL, "StructureDefinition/", "OperationDefinition/nrl-status", 1),
		Documentation: "The National Record Locator outbox: failed and pending pointer jobs (for those who may read the audit).",
		System:        true,
		Handler: func(ctx context.Context, _ *service.OperationRequest) (int, any, error) {
			ctx = auth.NewContext(ctx, Principal)
			failed, err := Failed(ctx, svc)
			if err != nil {
				return 0, nil, err
			}
			open, err := Open(ctx, svc)
			if err != nil {
				return 0, nil, err
			}
			params := []any{
				map[string]any{"name": "pending", "valueInteger": len(open)},
				map[string]any{"name": "failed", "valueInteger": len(failed)},
			}
			for _, j := range append(failed, open...) {
				task := j.Task()
				task["id"] = j.ID
				task["meta"] = map[string]any{"versionId": strconv.FormatInt(j.Version, 10)}
				params = append(params, map[string]any{"name": "job", "resource": task})
			}
			return http.StatusOK, map[string]any{"resourceType": "Parameters", "parameter": params}, nil
		},
	}
}
