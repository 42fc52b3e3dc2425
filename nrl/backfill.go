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
}

// Shared says whether a plan is shared now, so that NRL may point to it:
// urgent care may read it and its patient is alive. The care-plan read
// rules decide what urgent care reads (approved and current, not revoked,
// completed or entered in error, the patient's consent permitting), as for
// any reader; a deleted or unknown plan is not shared. A dead patient's
// plans may still be read, but NRL keeps no pointer for them (the outbox
// removes them at death).
func Shared(ctx context.Context, svc Service, plan string) (bool, error) {
	v, err := svc.Visible(auth.NewContext(ctx, sharingViewer), "CarePlan", plan)
	if err != nil {
		// Hidden is NotFound. Anything else (the store down, a timeout)
		// is an error, never "not shared": that would delete a shared
		// plan's pointer.
		switch outcome.KindOf(err) {
		case outcome.NotFound, outcome.Gone, outcome.Forbidden:
			return false, nil
		}
		return false, err
	}
	res, err := resource.Parse(v.JSON)
	if err != nil {
		return false, err
	}
	patient := refID(subjectRef(res), "Patient")
	if patient == "" {
		return false, nil
	}
	pv, err := svc.Read(auth.NewContext(ctx, Principal), "Patient", patient)
	if k := outcome.KindOf(err); err != nil && (k == outcome.NotFound || k == outcome.Gone) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	pat, err := resource.Parse(pv.JSON)
	if err != nil {
		return false, err
	}
	return !careplan.Deceased(pat), nil
}

// Backfill queues a publish job for every plan shared now whose current
// version has none: plans approved while publishing was off, so that
// turning publishing on publishes each once. A plan version with a job in
// any state (sent, pending or failed) is left alone, so running it at every
// start queues nothing twice; and the publisher, before creating, takes a
// pointer it already made. Then it queues a removal job for every plan
// with a pointer recorded that is no longer shared (Withdraw). It returns
// how many jobs it queued.
func Backfill(ctx context.Context, svc BackfillService, cfg PointerConfig, now time.Time) (int, error) {
	queued, err := publishShared(ctx, svc, cfg, now)
	if err != nil {
		return queued, err
	}
	n, err := Withdraw(ctx, svc, now)
	return queued + n, err
}

// publishShared queues the publish jobs of Backfill.
func publishShared(ctx context.Context, svc BackfillService, cfg PointerConfig, now time.Time) (int, error) {
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
		if shared, err := Shared(ctx, svc, pv.ID); err != nil || !shared {
			if err != nil {
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
		if nhs == "" {
			continue // nothing to publish under (a dead patient's plan is not Shared)
		}
		j := &Job{Kind: KindPublish, State: requested(now), Patient: resource.Str(d.Patient, "id"), NHSNumber: nhs,
			PlanID: pv.ID, PlanVersion: pv.VersionID,
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

// Withdraw queues a removal job for every plan that has a pointer recorded
// (a publish job that made one) and is no longer shared: revoked,
// completed, entered in error or deleted, its patient's consent withdrawn
// or the patient dead while publishing was off, when the outbox wrote no
// job. A plan whose pointer a removal job already covers (one of the plan
// at or after the pointer's version, or one of the patient written after
// the pointer's job), in any state, is left alone, so running it at every
// start queues each removal once. It returns how many jobs it queued.
func Withdraw(ctx context.Context, svc Service, now time.Time) (int, error) {
	sys := auth.NewContext(ctx, Principal)
	q := "code=" + url.QueryEscape(JobSystem+"|"+KindPublish+","+JobSystem+"|"+KindRemove+","+JobSystem+"|"+KindRemovePatient)
	vs, err := svc.Find(sys, "Task", q, maxBackfill)
	if err != nil {
		return 0, err
	}
	if len(vs) == maxBackfill {
		return 0, fmt.Errorf("nrl: withdraw: %d or more jobs, more than one pass takes", maxBackfill)
	}
	published := map[string]*Job{}      // plan → its last job that made a pointer
	removedTo := map[string]int64{}     // plan → the last version its removal jobs cover
	removedAt := map[string]time.Time{} // patient → when its last removal job was written
	var plans []string
	for i := range vs {
		j, err := JobOf(&vs[i])
		if err != nil {
			return 0, err
		}
		switch j.Kind {
		case KindPublish:
			if j.PointerID == "" {
				continue
			}
			if have, ok := published[j.PlanID]; !ok || j.PlanVersion > have.PlanVersion {
				if !ok {
					plans = append(plans, j.PlanID)
				}
				published[j.PlanID] = j
			}
		case KindRemove:
			removedTo[j.PlanID] = max(removedTo[j.PlanID], j.PlanVersion)
		case KindRemovePatient:
			if j.Authored.After(removedAt[j.Patient]) {
				removedAt[j.Patient] = j.Authored
			}
		}
	}
	queued := 0
	for _, plan := range plans {
		pub := published[plan]
		if removedTo[plan] >= pub.PlanVersion || removedAt[pub.Patient].After(pub.Authored) {
			continue
		}
		shared, err := Shared(ctx, svc, plan)
		if err != nil {
			return queued, err
		}
		if shared {
			continue
		}
		j := &Job{Kind: KindRemove, State: requested(now), Patient: pub.Patient, NHSNumber: pub.NHSNumber,
			PlanID: plan, PlanVersion: pub.PlanVersion,
			Reason: fmt.Sprintf("no longer shared, found at start (pointer %s of version %d)", pub.PointerID, pub.PlanVersion)}
		if _, err := svc.Write(sys, &service.Write{Interaction: "create", Method: "POST", Type: "Task", Resource: j.Task()}); err != nil {
			return queued, err
		}
		queued++
	}
	return queued, nil
}
