package audit

import (
	"context"
	"time"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/store"
)

// parseJSON is resource.Parse, named for what the callers need.
func parseJSON(b []byte) (map[string]any, error) { return resource.Parse(b) }

// WriteInterceptor audits every write in the write's own transaction: after
// Next has accepted (and perhaps changed) the write, it appends the
// AuditEvent to op.Extra, which the write pipeline creates in the same
// write, so the store keeps both or neither. A write that Next refuses or
// the store rejects leaves no AuditEvent here; the Sink records the failure
// from the door's AuditRecord.
type WriteInterceptor struct {
	Next     service.WriteInterceptor // nil accepts everything
	Patients *Patients                // finds the patients of the write; nil finds none
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// BeforeWrite implements service.WriteInterceptor.
func (wi WriteInterceptor) BeforeWrite(ctx context.Context, op *service.WriteOp, view service.View) error {
	if wi.Next != nil {
		if err := wi.Next.BeforeWrite(ctx, op, view); err != nil {
			return err
		}
	}
	if op.Type == "AuditEvent" {
		// Only the server writes the audit; auditing the audit would recurse.
		return nil
	}
	e := &Event{Interaction: op.Interaction, Type: op.Type, ID: op.ID, Version: op.Version, Time: wi.now()}
	e.Patients = writePatients(wi.Patients, op)
	e.Principal, e.BreakGlass = auth.FromContext(ctx), op.Call.BreakGlassReason()
	op.Extra = append(op.Extra, Build(e).Resource())
	op.Call.Disclosed().Audited()
	return nil
}

func (wi WriteInterceptor) now() time.Time {
	if wi.Now != nil {
		return wi.Now()
	}
	return time.Now()
}

// writePatients returns the patients of the new content and of the version
// it replaces: moving a resource out of a patient's compartment is an
// event in that patient's record too.
func writePatients(ps *Patients, op *service.WriteOp) []string {
	var ids []string
	if op.Type == "Patient" {
		ids = addPatient(ids, op.ID)
	}
	ids = addPatient(ids, ps.ofResource(op.Resource)...)
	if op.Previous != nil {
		ids = addPatient(ids, ps.of(op.Previous)...)
	}
	return ids
}

// changeWithJSON is change with the stored JSON given (nil: marshal ev).
func changeWithJSON(reg Extractor, ev map[string]any, json []byte) (store.Change, error) {
	id := resource.ID(ev)
	meta := ev["meta"].(map[string]any)
	t, err := time.Parse(time.RFC3339Nano, meta["lastUpdated"].(string))
	if err != nil {
		return store.Change{}, err
	}
	ch := store.Change{Type: "AuditEvent", ID: id, VersionID: 1, PrevVersion: 0, LastUpdated: t, Method: "POST"}
	if reg != nil {
		entries, patients, err := reg.Extract(ev)
		if err != nil {
			return store.Change{}, err
		}
		ch.Entries, ch.Patients = entries, patients
	}
	ch.JSON = json
	if ch.JSON == nil {
		ch.JSON = resource.Marshal(ev)
	}
	return ch, nil
}
