package careplan

import (
	"context"
	"encoding/json"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

// Hidden says why a plan is not shared.
type Hidden string

// The reasons a plan is not shared.
const (
	HiddenConsentWithdrawn Hidden = "consent-withdrawn" // the patient's latest consent is a withdrawal
	HiddenRevoked          Hidden = "revoked"           // the plan is revoked, completed or entered in error
	HiddenUnapproved       Hidden = "unapproved"        // no clinician has approved the plan yet (a draft)
)

// SharingPolicy decides whether the caller may still see a plan (a CarePlan
// or a plan Composition) that is not shared: not yet approved, or no longer
// shared. p is nil for an anonymous request; breakGlass is the reason the
// caller gave for emergency access ("" for none). It returns nil to show the
// version, or an error to hide it (the REST layer answers a read with the
// error and leaves the version out of searches and bundles).
type SharingPolicy func(ctx context.Context, p *auth.Principal, breakGlass string, v *store.Version, why Hidden) error

// DefaultSharing shows plans that are no longer shared only to clinicians
// and admins, who must be able to find a withdrawn or revoked plan to talk
// to the patient or correct it, and to the patient the plan is about.
// Urgent-care viewers, systems, other patients and anonymous requests get
// 404, so that a crew at 3 a.m. never acts on a plan that has been
// withdrawn.
//
// Break-glass (a stated reason, flagged in the audit as BTG) lets urgent
// care see a plan hidden only because consent was withdrawn: in an
// emergency the clinician decides. A revoked, completed or
// entered-in-error plan stays hidden: it no longer says what the patient
// wants; so does a draft, which no clinician has approved.
func DefaultSharing(ctx context.Context, p *auth.Principal, breakGlass string, v *store.Version, why Hidden) error {
	if DefaultSharesAll(ctx, p) || ownPlan(p, v) {
		return nil
	}
	if breakGlass != "" && why == HiddenConsentWithdrawn && auth.BreakGlassAllowed(p) {
		return nil
	}
	msg := "%s/%s is not shared"
	switch why {
	case HiddenConsentWithdrawn:
		msg += ": the patient has withdrawn consent to share their care plan"
	case HiddenRevoked:
		msg += ": the plan is no longer current"
	case HiddenUnapproved:
		msg += ": the plan has not been approved by a clinician"
	}
	return outcome.Errorf(outcome.NotFound, msg, v.Type, v.ID)
}

// ownPlan reports whether p is the patient v is about. Consent is to share
// a plan with others, and a revoked plan is still part of the patient's
// record: the patient sees their own plans whatever their state.
func ownPlan(p *auth.Principal, v *store.Version) bool {
	if p == nil || p.Role != auth.RolePatient || p.Patient == "" {
		return false
	}
	// Decoded afresh: this runs only for a patient's own hidden plans, and
	// DefaultSharing has no Plans whose memo it could use.
	h, err := decodeHead(v)
	if err != nil {
		return false
	}
	ref := resource.ParseReference(h.Subject.Reference)
	return ref.Type == "Patient" && ref.ID == p.Patient
}

// DefaultSharesAll is DefaultSharing's rule for whom it shows every plan:
// clinicians and admins.
func DefaultSharesAll(_ context.Context, p *auth.Principal) bool {
	return p != nil && (p.Role == auth.RoleClinical || p.Role == auth.RoleAdmin)
}

// planHead is what AllowRead reads of a CarePlan, Composition or
// Provenance: decoding only these fields keeps searches fast.
type planHead struct {
	ResourceType string `json:"resourceType"`
	Status       string `json:"status"`
	Meta         struct {
		Profile []string `json:"profile"`
	} `json:"meta"`
	Subject struct {
		Reference string `json:"reference"`
	} `json:"subject"`
	Category []codeable `json:"category"`
	Type     codeable   `json:"type"`
	// Event is a plan Composition's: event.detail names the plan version.
	Event []struct {
		Detail []struct {
			Reference string `json:"reference"`
		} `json:"detail"`
	} `json:"event"`
	// Target is a Provenance's: what it records.
	Target []struct {
		Reference string `json:"reference"`
	} `json:"target"`
}

type codeable struct {
	Coding []struct {
		System string `json:"system"`
		Code   string `json:"code"`
	} `json:"coding"`
}

func (c codeable) has(system string, codes ...string) bool {
	for _, cd := range c.Coding {
		if cd.System != system {
			continue
		}
		for _, code := range codes {
			if cd.Code == code {
				return true
			}
		}
	}
	return false
}

// AllowRead implements service.ReadInterceptor: urgent care plans that are not
// shared, and everything that shows them (any of their versions, their
// documents, their approval records), are shown only as the SharingPolicy
// allows. Other resources pass untouched.
//
// A plan is shared while it is approved and current (active, or on hold
// after an approval) and its patient's latest consent permits sharing. That
// is decided by the plan's current version, whichever version is asked
// for: an old active version of a revoked plan is as hidden as the plan.
func (p *Plans) AllowRead(ctx context.Context, v *store.Version, _ service.Purpose, call *service.Call) error {
	if v.Deleted || (v.Type != "CarePlan" && v.Type != "Composition" && v.Type != "Provenance") {
		return nil
	}
	pr, bg := auth.FromContext(ctx), call.BreakGlassReason()
	if p.cfg.SharesAll(ctx, pr) {
		return nil
	}
	h, err := p.headOf(v)
	if err != nil {
		return err
	}
	switch v.Type {
	case "Provenance":
		// An approval record discloses the plan it approves.
		for _, t := range h.Target {
			ref := resource.ParseReference(t.Reference)
			if ref.Type != "CarePlan" || !ref.IsLocal() {
				continue
			}
			cur, err := p.currentPlan(ctx, ref.ID)
			if err != nil {
				return err
			}
			if cur == nil {
				continue
			}
			// The policy is asked about the plan: the patient it is
			// about may see its approvals.
			if err := p.planShared(ctx, call, pr, bg, cur, cur); err != nil {
				return err
			}
		}
		return nil
	case "Composition":
		if !h.urgent() {
			return nil
		}
		// A plan's document is shared as its plan is.
		for _, e := range h.Event {
			for _, d := range e.Detail {
				ref := resource.ParseReference(d.Reference)
				if ref.Type != "CarePlan" || !ref.IsLocal() {
					continue
				}
				cur, err := p.currentPlan(ctx, ref.ID)
				if err != nil {
					return err
				}
				if cur != nil {
					return p.planShared(ctx, call, pr, bg, cur, v)
				}
			}
		}
		return p.consentShared(ctx, call, pr, bg, h, v)
	}
	// Whether this is an urgent care plan is the current version's to say
	// too (planShared).
	cur := v
	if c, err := p.currentPlan(ctx, v.ID); err != nil {
		return err
	} else if c != nil {
		cur = c
	}
	return p.planShared(ctx, call, pr, bg, cur, v)
}

// currentPlan returns the current version of CarePlan id (a deletion when
// deleted), nil when there is none.
func (p *Plans) currentPlan(ctx context.Context, id string) (*store.Version, error) {
	v, err := p.cfg.Store.Read(ctx, "CarePlan", id)
	if e := store.AsError(err); e != nil && e.Kind == store.Gone && e.Version != nil {
		return e.Version, nil
	}
	if outcome.KindOf(err) == outcome.NotFound {
		return nil, nil
	}
	return v, err
}

// planShared decides, by cur (the plan's current version), whether the
// caller may see v: a version of that plan, its document or its approval
// record. The SharingPolicy is asked about v.
func (p *Plans) planShared(ctx context.Context, call *service.Call, pr *auth.Principal, bg string, cur, v *store.Version) error {
	why := Hidden("")
	var h *planHead
	if cur.Deleted {
		why = HiddenRevoked // only a plan that was not (or no longer) shared is deleted
	} else {
		var err error
		if h, err = p.headOf(cur); err != nil {
			return err
		}
		if !h.urgent() {
			return nil
		}
		switch h.Status {
		case "active":
		case "draft":
			why = HiddenUnapproved
		case "revoked", "completed", "entered-in-error":
			why = HiddenRevoked
		default:
			// On hold (or unknown) is shared only after an approval: a
			// draft put on hold was never approved.
			approved, err := p.everActive(ctx, cur)
			if err != nil {
				return err
			}
			if !approved {
				why = HiddenUnapproved
			}
		}
	}
	if why != "" {
		if err := p.cfg.Sharing(ctx, pr, bg, v, why); err != nil {
			return err
		}
	}
	if h == nil {
		return nil
	}
	return p.consentShared(ctx, call, pr, bg, h, v)
}

// everActive reports whether some version of the plan up to cur was active,
// that is approved by a clinician.
func (p *Plans) everActive(ctx context.Context, cur *store.Version) (bool, error) {
	for n := cur.VersionID; n >= 1; n-- {
		v := cur
		if n != cur.VersionID {
			var err error
			if v, err = p.cfg.Store.VRead(ctx, "CarePlan", cur.ID, n); err != nil {
				if k := outcome.KindOf(err); k == outcome.NotFound || k == outcome.Gone {
					continue
				}
				return false, err
			}
		}
		if v.Deleted {
			continue
		}
		h, err := p.headOf(v)
		if err != nil {
			return false, err
		}
		if h.Status == "active" {
			return true, nil
		}
	}
	return false, nil
}

// consentShared hides v (a plan, or a plan's document, with head h) when
// the patient's latest consent is a withdrawal, as the SharingPolicy allows.
//
// The consent is read once per interaction and patient (call.Remember): an
// urgent query's bundle asks it for the plan and again for each of its
// approval records and documents.
func (p *Plans) consentShared(ctx context.Context, call *service.Call, pr *auth.Principal, bg string, h *planHead, v *store.Version) error {
	ref := resource.ParseReference(h.Subject.Reference)
	if ref.Type != "Patient" || !ref.IsLocal() {
		return nil
	}
	got, err := call.Remember(consentKey(ref.ID), func() (any, error) {
		return p.consentState(ctx, service.View{}, ref.ID)
	})
	if err != nil {
		return err
	}
	cs := got.(consent)
	if cs.state == consentWithdrawn {
		return p.cfg.Sharing(ctx, pr, bg, v, HiddenConsentWithdrawn)
	}
	return nil
}

// consentKey is the Call.Remember key of a patient's consent state.
type consentKey string

// MayHide implements service.TypeHider: AllowRead hides only plans, plan
// documents and approval records, and nothing from a caller the sharing
// policy shows every plan.
func (p *Plans) MayHide(ctx context.Context, typ string) bool {
	if typ != "CarePlan" && typ != "Composition" && typ != "Provenance" {
		return false
	}
	return !p.cfg.SharesAll(ctx, auth.FromContext(ctx))
}

// urgent reports whether the head is an urgent care plan or its document.
func (h *planHead) urgent() bool {
	for _, pr := range h.Meta.Profile {
		if pr == profiles.ProfileCarePlan {
			return true
		}
	}
	if h.ResourceType == "Composition" {
		return h.Type.has(profiles.SystemSNOMED, profiles.CodeEndOfLifeCarePlan, profiles.CodeAdvanceCarePlan)
	}
	for _, c := range h.Category {
		if c.has(profiles.SystemSNOMED, profiles.CodeEndOfLifeCarePlan, profiles.CodeAdvanceCarePlan) {
			return true
		}
	}
	return false
}

// headOf returns the decoded head of v (a CarePlan or Composition),
// remembered in p.heads. The result is shared: callers must not change it.
func (p *Plans) headOf(v *store.Version) (*planHead, error) {
	return p.heads.Get(nil, v, func() (*planHead, error) { return decodeHead(v) })
}

func decodeHead(v *store.Version) (*planHead, error) {
	h := &planHead{}
	return h, json.Unmarshal(v.JSON, h)
}
