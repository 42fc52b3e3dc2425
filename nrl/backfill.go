package nrl

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"ucp/auth"
	"ucp/careplan"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/store"
)

// maxBackfill bounds the active plans one backfill looks at: Find has no
// paging, and a service with more must not silently publish only some.
const maxBackfill = 100000

// sharingViewer is whom a plan must be shared with to be published: urgent
// care, which sees a plan only while it is approved and current and its
// patient's consent permits (the care-plan read rules decide, not this
// package).
var sharingViewer = &auth.Principal{Role: auth.RoleView, Subject: "ucp-nrl-backfill", Name: "ucp NRL backfill"}

// BackfillService is what Backfill needs of the FHIR service:
// *service.Service is one.
type BackfillService interface {
	Service
	Visible(ctx context.Context, typ, id string) (*store.Version, error)
}

// Backfill queues a publish job for every plan shared now whose current
// version has none: plans approved while publishing was off, so that
// turning publishing on publishes each once. A plan version with a job in
// any state (sent, pending or failed) is left alone, so running it at every
// start queues nothing twice; and the publisher, before creating, takes a
// pointer it already made. It returns how many jobs it queued.
func Backfill(ctx context.Context, svc BackfillService, cfg PointerConfig, now time.Time) (int, error) {
	sys := auth.NewContext(ctx, Principal)
	plans, err := svc.Find(sys, "CarePlan", "status=active", maxBackfill)
	if err != nil {
		return 0, err
	}
	if len(plans) == maxBackfill {
		return 0, fmt.Errorf("nrl: backfill: %d or more active plans, more than one pass takes", maxBackfill)
	}
	docs := Documents{Reader: svc}
	queued := 0
	for _, pv := range plans {
		plan, err := resource.Parse(pv.JSON)
		if err != nil {
			return queued, err
		}
		if !careplan.IsUrgentCarePlan(plan) {
			continue
		}
		// Shared with urgent care now? The read rules say, as for any reader.
		if _, err := svc.Visible(auth.NewContext(ctx, sharingViewer), "CarePlan", pv.ID); err != nil {
			if outcome.KindOf(err) == outcome.Internal {
				return queued, err
			}
			continue
		}
		has, err := hasPublishJob(sys, svc, pv.ID, pv.VersionID)
		if err != nil || has {
			if err != nil {
				return queued, err
			}
			continue
		}
		d, err := docs.LoadCurrent(sys, pv.ID)
		if k := outcome.KindOf(err); k == outcome.NotFound || k == outcome.Gone {
			continue // the current version was never approved: nothing to point to
		} else if err != nil {
			return queued, err
		}
		nhs := nhsNumberOf(d.Patient)
		if nhs == "" || careplan.Deceased(d.Patient) {
			continue
		}
		j := &Job{Kind: KindPublish, Status: "requested", Patient: resource.Str(d.Patient, "id"), NHSNumber: nhs,
			PlanID: pv.ID, PlanVersion: pv.VersionID, Authored: now.UTC(),
			Pointer: Build(cfg, PlanVersion{PlanID: pv.ID, Version: pv.VersionID, NHSNumber: nhs, Type: planType(plan),
				Composition: resource.Str(d.Composition, "id"), Approved: resource.Str(d.Composition, "date")})}
		if _, err := svc.Write(sys, &service.Write{Interaction: "create", Method: "POST", Type: "Task", Resource: j.Task()}); err != nil {
			return queued, err
		}
		queued++
	}
	return queued, nil
}

// hasPublishJob says whether a publish job of this plan version exists, in
// any state. A reference search matches the plan whatever the version, so
// the plan's jobs are read and their versions compared.
func hasPublishJob(ctx context.Context, svc Service, plan string, version int64) (bool, error) {
	q := "code=" + url.QueryEscape(JobSystem+"|"+KindPublish) + "&focus=" + url.QueryEscape("CarePlan/"+plan)
	vs, err := svc.Find(ctx, "Task", q, maxJobs)
	if err != nil {
		return false, err
	}
	for i := range vs {
		j, err := JobOf(&vs[i])
		if err != nil {
			return false, err
		}
		if j.PlanID == plan && j.PlanVersion == version {
			return true, nil
		}
	}
	return false, nil
}
