package auth

import (
	"context"

	"ucp/fhir/outcome"
)

// OperationPolicy is the Authorizer that knows operations: the policy
// judges interactions, so an operation is authorised as the interaction it
// amounts to, and every other interaction passes to Next unchanged. An
// operation that only reads ($validate, $document, $everything) is a read
// of its instance, or a search of its type; $export is a search of what it
// exports (see exportAccess); $evaluate-measure is the report role's and
// admins' (see authorizeMeasure); $nrl-status a search of the audit; any
// other is an update. $access-log is a read of the patient's own Patient,
// for the patient (and admins) only. $reindex is left to Next, which treats it as an
// operator's act.
type OperationPolicy struct {
	Next Authorizer
}

// Authorize implements the service's Authorizer.
func (o OperationPolicy) Authorize(ctx context.Context, a Access) error {
	if a.Interaction != "operation" || a.Operation == "reindex" {
		return o.Next.Authorize(ctx, a)
	}
	if a.Operation == "evaluate-measure" {
		return o.authorizeMeasure(ctx, a)
	}
	acc := a
	switch a.Operation {
	case "export":
		var err error
		if acc, err = exportAccess(ctx, a); err != nil {
			return err
		}
	case "nrl-status":
		// The NRL outbox's jobs are the service's record of what it sent
		// to a national service: whoever may read the audit may read them.
		acc = Access{Interaction: "search-type", Type: "AuditEvent", Operation: a.Operation}
	case "access-log":
		// Who has looked at a record is the patient's to see, on their
		// own record only (the policy's compartment check on the read of
		// their Patient), and the audit's readers'; a clinician or urgent
		// care looks at the plan, not at who else did.
		if p := FromContext(ctx); p != nil && p.Role != RolePatient && p.Role != RoleAdmin {
			return forbidden("the access log of a record is for its patient; role %s may not read it", p.Role)
		}
		acc.Interaction = "read"
	case "create-plan":
		// Making a plan from a patient's answers writes a plan: only whoever may create one.
		acc = Access{Interaction: "create", Type: "CarePlan", Operation: a.Operation}
	case "ask-for-change":
		// Asking for a change to a plan changes nothing of it: whoever may see the plan may ask.
		acc = Access{Interaction: "read", Type: a.Type, ID: a.ID, Operation: a.Operation}
	case "validate", "document", "everything": // change nothing stored
		acc.Interaction = "read"
		if a.ID == "" {
			acc.Interaction = "search-type"
		}
	default:
		acc.Interaction = "update"
	}
	return o.Next.Authorize(ctx, acc)
}

// authorizeMeasure decides Measure/{id}/$evaluate-measure: the report role
// and admins, who see counts and never a patient's data, and nobody else.
// Clinicians and urgent care look at one patient at a time; a count over
// every patient is not theirs, and a system has the Bulk Data export.
func (o OperationPolicy) authorizeMeasure(ctx context.Context, a Access) error {
	p := FromContext(ctx)
	if p == nil {
		return o.Next.Authorize(ctx, a) // the policy's 401 and its challenge
	}
	if p.Role == RoleReport || p.Role == RoleAdmin {
		return nil
	}
	return forbidden("evaluating a measure needs the report role or an admin; role %s may not", p.Role)
}

// exportAccess is what a Bulk Data $export reads: everything at system
// level (a system-wide search: system/*.rs), every patient at Patient level
// (a search of Patient), a Group's members at Group level (a read of the
// Group); a file download, a search of the file's type. The export then
// authorises each type it exports as a search.
func exportAccess(ctx context.Context, a Access) (Access, error) {
	switch {
	case a.Type == "":
		a.Interaction = "search-system"
	case a.ID != "":
		a.Interaction = "read"
	default:
		a.Interaction = "search-type"
	}
	// Patient level is every patient's record at once, for a backend
	// service. A clinician or viewer searches Patient one patient at a time,
	// and a Group's members (a caseload) stay theirs to export.
	if a.Type == "Patient" && a.ID == "" {
		if p := FromContext(ctx); p != nil && p.Role != RoleSystem {
			return a, outcome.Errorf(outcome.Forbidden, "Patient-level $export covers every patient's record: it is for system clients (SMART Backend Services); export a Group of your patients instead")
		}
	}
	return a, nil
}
