package careplan

import (
	"context"
	"encoding/json"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/profiles"
	"ucp/store"
)

// Hidden says why a plan is no longer shared.
type Hidden string

// The reasons a plan is no longer shared.
const (
	HiddenConsentWithdrawn Hidden = "consent-withdrawn" // the patient's latest consent is a withdrawal
	HiddenRevoked          Hidden = "revoked"           // the plan is revoked, completed or entered in error
)

// SharingPolicy decides whether the caller may still see a plan (a CarePlan
// or a plan Composition) that is no longer shared. p is nil for an anonymous
// request. It returns nil to show the version, or an error to hide it (the
// REST layer answers a read with the error and leaves the version out of
// searches and bundles).
type SharingPolicy func(ctx context.Context, p *auth.Principal, v *store.Version, why Hidden) error

// DefaultSharing shows plans that are no longer shared only to clinicians
// and admins, who must be able to find a withdrawn or revoked plan to talk
// to the patient or correct it, and to the patient the plan is about.
// Urgent-care viewers, systems, other patients and anonymous requests get
// 404, so that a crew at 3 a.m. never acts on a plan that has been
// withdrawn.
//
// Break-glass (a stated reason, flagged in the audit as BTG) lets urgent
// care see a plan hidden only because consent was withdrawn: in an
// emergency the clinician decides. A revoked or completed plan stays
// hidden: it no longer says what the patient wants.
func DefaultSharing(ctx context.Context, p *auth.Principal, v *store.Version, why Hidden) error {
	if DefaultSharesAll(ctx, p) || ownPlan(p, v) {
		return nil
	}
	if _, ok := auth.BreakGlassFrom(ctx); ok && why == HiddenConsentWithdrawn && auth.BreakGlassAllowed(p) {
		return nil
	}
	msg := "%s/%s is not shared"
	switch why {
	case HiddenConsentWithdrawn:
		msg += ": the patient has withdrawn consent to share their care plan"
	case HiddenRevoked:
		msg += ": the plan is no longer current"
	}
	return store.Errorf(store.NotFound, msg, v.Type, v.ID)
}

// ownPlan reports whether p is the patient v is about. Consent is to share
// a plan with others, and a revoked plan is still part of the patient's
// record: the patient sees their own plans whatever their state.
func ownPlan(p *auth.Principal, v *store.Version) bool {
	if p == nil || p.Role != auth.RolePatient || p.Patient == "" {
		return false
	}
	h, err := headOf(v)
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

// planHead is what AllowRead reads of a CarePlan or Composition: decoding
// only these fields keeps searches fast.
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

// AllowRead implements rest.ReadInterceptor: revoked, completed and
// entered-in-error urgent care plans, and the plans and plan documents of a
// patient whose latest consent is a withdrawal, are shown only as the
// SharingPolicy allows. Other resources pass untouched.
func (p *Plans) AllowRead(ctx context.Context, v *store.Version) error {
	if v.Deleted || (v.Type != "CarePlan" && v.Type != "Composition") {
		return nil
	}
	h, err := headOf(v)
	if err != nil {
		return err
	}
	if !h.urgent() {
		return nil
	}
	pr := auth.FromContext(ctx)
	if v.Type == "CarePlan" {
		switch h.Status {
		case "revoked", "completed", "entered-in-error":
			if err := p.cfg.Sharing(ctx, pr, v, HiddenRevoked); err != nil {
				return err
			}
		}
	}
	ref := resource.ParseReference(h.Subject.Reference)
	if ref.Type != "Patient" || !ref.IsLocal() {
		return nil
	}
	cs, err := p.consentState(ctx, ref.ID)
	if err != nil {
		return err
	}
	if cs.state == consentWithdrawn {
		return p.cfg.Sharing(ctx, pr, v, HiddenConsentWithdrawn)
	}
	return nil
}

// MayHide implements rest.TypeHider: AllowRead hides only plans and plan
// documents, and nothing from a caller the sharing policy shows every plan.
func (p *Plans) MayHide(ctx context.Context, typ string) bool {
	if typ != "CarePlan" && typ != "Composition" {
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

// heads remembers the decoded head of each CarePlan and Composition version:
// AllowRead runs for every plan a search returns, and decoding scanned the
// whole plan's JSON. Only the decoding is remembered; the consent and
// sharing decisions are made afresh on every read.
var heads store.VersionMemo[*planHead]

// headOf returns the decoded head of v (a CarePlan or Composition). The
// result is shared: callers must not change it.
func headOf(v *store.Version) (*planHead, error) {
	return heads.Get(nil, v, func() (*planHead, error) {
		h := &planHead{}
		return h, json.Unmarshal(v.JSON, h)
	})
}
