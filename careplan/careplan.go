package careplan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/fhir/validate"
	"ucp/profiles"
	"ucp/store"
)

// Store is what the domain rules read; store.Store satisfies it.
type Store interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	VRead(ctx context.Context, typ, id string, version int64) (*store.Version, error)
	Search(ctx context.Context, q store.Query) (*store.Result, error)
}

// Config configures Plans. Store, Registry and Validator are required.
type Config struct {
	Store Store
	// Registry extracts the index entries of the Provenance and Composition
	// written with an approval, and parses the consent queries.
	Registry *search.Registry
	// Validator checks every written resource; build it with NewValidator
	// so that it knows the profiles and those POSTed later.
	Validator *validate.Validator
	// Sharing decides who sees plans that are no longer shared; nil means
	// DefaultSharing.
	Sharing SharingPolicy
	// SharesAll reports whether Sharing shows every plan to p, so that
	// nothing is hidden from them and a search's total needs no recheck
	// (see MayHide). nil means: when Sharing is nil, DefaultSharesAll;
	// otherwise never.
	SharesAll func(ctx context.Context, p *auth.Principal) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Plans applies the care-plan rules. It implements service.WriteInterceptor and
// service.ReadInterceptor.
type Plans struct {
	cfg Config

	// heads remembers the decoded head of each CarePlan and Composition
	// version: AllowRead runs for every plan a search returns, and decoding
	// scanned the whole plan's JSON. Only the decoding is remembered; the
	// consent and sharing decisions are made afresh on every read.
	heads store.VersionMemo[*planHead]
}

var (
	_ service.WriteInterceptor = (*Plans)(nil)
	_ service.ReadInterceptor  = (*Plans)(nil)
	_ service.TypeHider        = (*Plans)(nil)
)

// New returns Plans for cfg.
func New(cfg Config) (*Plans, error) {
	if cfg.Store == nil || cfg.Registry == nil || cfg.Validator == nil {
		return nil, errors.New("careplan: Config.Store, Registry and Validator are required")
	}
	if cfg.Sharing == nil {
		cfg.Sharing = DefaultSharing
		if cfg.SharesAll == nil {
			cfg.SharesAll = DefaultSharesAll
		}
	}
	if cfg.SharesAll == nil {
		cfg.SharesAll = func(context.Context, *auth.Principal) bool { return false }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Plans{cfg: cfg}, nil
}

// NewValidator returns a validator that knows the embedded profiles, value
// sets and code systems, and StructureDefinitions stored on the server,
// without UK Core (see NewValidatorOn).
func NewValidator(st Store, reg *search.Registry) *validate.Validator {
	return NewValidatorOn(st, reg, nil)
}

// NewValidatorOn is NewValidator on a base package: our profiles are
// checked against the UK Core profiles they derive from, and UK Core's
// value sets and code systems join ours. base nil means UK Core is not
// loaded: our profiles are checked against their own constraints only.
func NewValidatorOn(st Store, reg *search.Registry, base BasePackage) *validate.Validator {
	var term []map[string]any
	term = append(term, profiles.ValueSets()...)
	term = append(term, profiles.CodeSystems()...)
	if base != nil {
		term = append(term, base.Terminology()...)
	}
	return validate.New(validate.Options{
		Profiles:    NewProfileSource(st, reg, base),
		Terminology: validate.NewMemoryTerminology(term...),
	})
}

// BeforeWrite implements service.WriteInterceptor: it validates the resource,
// then applies the plan lifecycle and consent rules, and on approval adds the
// Provenance and Composition to op.Extra.
func (p *Plans) BeforeWrite(ctx context.Context, op *service.WriteOp, view service.View) error {
	issues, err := p.check(ctx, op, view)
	if err != nil {
		return err
	}
	return issuesError(issues)
}

// Independent reports whether BeforeWrite for op reads nothing but op (for
// a bulk importer, which then prepares it in parallel with others): true for
// every type but CarePlan, whose lifecycle rules read the patient, the
// consents and the sections. Validation reads stored StructureDefinitions
// only for profiles that are not embedded, which an import does not write
// alongside the resources claiming them.
func (p *Plans) Independent(op *service.WriteOp) bool { return op.Type != "CarePlan" }

// check runs every rule for op and returns the problems found (errors and
// warnings), or an error for refusals that are not 422 (403, 409, 500).
func (p *Plans) check(ctx context.Context, op *service.WriteOp, view service.View) ([]validate.Issue, error) {
	var issues []validate.Issue
	if op.Resource != nil {
		issues = p.cfg.Validator.Validate(ctx, op.Resource)
		issues = append(issues, nhsNumberIssues(op.Resource)...)
	}
	if op.Type != "CarePlan" {
		return issues, nil
	}
	// The plan rules run even on an invalid plan, so that one answer names
	// every problem (a profile invariant and each missing section alike);
	// nothing is approved unless the whole is valid.
	more, err := p.lifecycle(ctx, op, view, validate.HasErrors(issues))
	return append(issues, more...), err
}

// issuesError turns the error issues into one Unprocessable error whose
// Issues the REST layer renders as one OperationOutcome issue each; the
// message also lists them all, for logs and for transaction entries.
func issuesError(issues []validate.Issue) error {
	var msgs, exprs []string
	var details []outcome.Issue
	for _, is := range issues {
		if is.Severity != validate.SeverityError && is.Severity != "fatal" {
			continue
		}
		d := outcome.Issue{Code: is.Code, Diagnostics: is.Message}
		m := is.Message
		if is.Expression != "" {
			d.Expression = []string{is.Expression}
			m = is.Expression + ": " + m
			exprs = append(exprs, is.Expression)
		}
		msgs = append(msgs, m)
		details = append(details, d)
	}
	switch len(msgs) {
	case 0:
		return nil
	case 1:
		return &outcome.Error{Kind: outcome.Unprocessable, Message: msgs[0], Expr: exprs, Issues: details}
	}
	for i := range msgs {
		msgs[i] = fmt.Sprintf("(%d) %s", i+1, msgs[i])
	}
	return &outcome.Error{Kind: outcome.Unprocessable, Message: fmt.Sprintf("%d problems: %s", len(msgs), strings.Join(msgs, "; ")), Expr: exprs, Issues: details}
}

func problem(expr, format string, args ...any) validate.Issue {
	return validate.Issue{Severity: validate.SeverityError, Code: "business-rule", Expression: expr, Message: fmt.Sprintf(format, args...)}
}

// IsUrgentCarePlan reports whether a CarePlan is one of ours: it claims
// UCPCarePlan or has an end of life or advance care plan category.
func IsUrgentCarePlan(res map[string]any) bool {
	if res == nil {
		return false
	}
	if meta, ok := res["meta"].(map[string]any); ok {
		for _, pr := range resource.List(meta["profile"]) {
			if s, _ := pr.(string); strings.HasPrefix(s, profiles.ProfileCarePlan) {
				return true
			}
		}
	}
	for _, c := range resource.List(res["category"]) {
		if resource.HasCoding(c, profiles.SystemSNOMED, profiles.CodeEndOfLifeCarePlan, profiles.CodeAdvanceCarePlan) {
			return true
		}
	}
	return false
}

// lifecycle applies the status transitions, reference, section and consent
// rules to a write of an urgent care plan.
// invalid says the resource already failed validation: then problems are
// reported but no approval is prepared.
func (p *Plans) lifecycle(ctx context.Context, op *service.WriteOp, view service.View, invalid bool) ([]validate.Issue, error) {
	var prev map[string]any
	if op.Previous != nil && op.Previous.JSON != nil {
		var err error
		if prev, err = resource.Parse(op.Previous.JSON); err != nil {
			return nil, fmt.Errorf("careplan: parsing stored CarePlan/%s: %w", op.ID, err)
		}
	}
	if !IsUrgentCarePlan(op.Resource) && !IsUrgentCarePlan(prev) {
		return nil, nil
	}
	prevStatus := resource.Str(prev, "status")
	if op.Interaction == "delete" {
		if prevStatus == "active" || prevStatus == "on-hold" {
			return nil, outcome.Errorf(outcome.Conflict, "CarePlan/%s is an %s urgent care plan and cannot be deleted: revoke it (update with status revoked) or complete it; its history is kept", op.ID, prevStatus)
		}
		return nil, nil
	}
	res := op.Resource
	if prev != nil {
		// A plan filed against the wrong patient is corrected by marking it
		// entered-in-error and writing a new one for the right patient:
		// moving it would carry one patient's decisions, history and
		// approvals into another's record.
		if was, now := subjectOf(prev), subjectOf(res); was != now {
			return []validate.Issue{problem("CarePlan.subject", "an urgent care plan cannot move to another patient (%s, not %s): mark it entered-in-error and write a new plan for the right patient", was, now)}, nil
		}
	}
	status := resource.Str(res, "status")
	switch {
	case status == prevStatus:
	case status == "draft" && prevStatus != "":
		return []validate.Issue{problem("CarePlan.status", "a %s plan cannot go back to draft: update it as active (a new approval), or revoke it", prevStatus)}, nil
	case prevStatus == "" && status != "draft" && status != "active":
		return []validate.Issue{problem("CarePlan.status", "a new urgent care plan starts as draft (or active when approved at once), not %s", status)}, nil
	}
	if status != "draft" && status != "active" {
		// Revoking, completing or marking in error stops sharing; it never
		// needs consent or sections, so that it can always be done.
		return nil, nil
	}
	var issues []validate.Issue
	patient, err := p.planPatient(ctx, view, res)
	if err != nil {
		return nil, err
	}
	if patient == "" {
		return []validate.Issue{problem("CarePlan.subject", "an urgent care plan's subject must reference a Patient stored on this server (Patient/{id})")}, nil
	}
	cs, err := p.consentState(ctx, view, patient)
	if err != nil {
		return nil, err
	}
	switch cs.state {
	case consentNone:
		issues = append(issues, problem("CarePlan.subject", "Patient/%s has no active Consent to share the urgent care plan (given, best-interests, LPA or representative); record one before writing the plan", patient))
	case consentWithdrawn:
		issues = append(issues, problem("CarePlan.subject", "Patient/%s has withdrawn consent to share the urgent care plan (Consent/%s); the plan cannot be written as %s", patient, cs.id, status))
	}
	secs, more, err := p.resolveSections(ctx, view, res, patient)
	if err != nil {
		return nil, err
	}
	issues = append(issues, more...)
	if status != "active" {
		return issues, nil
	}
	// Approval.
	who, err := approverFrom(ctx)
	if err != nil {
		return nil, err
	}
	issues = append(issues, secs.missing(res)...)
	if invalid || validate.HasErrors(issues) {
		return issues, nil
	}
	extra, err := p.approve(op, res, patient, secs, cs, who)
	if err != nil {
		return nil, err
	}
	op.Extra = append(op.Extra, extra...)
	return issues, nil
}

// subjectOf names whom a plan is about, comparably: "Patient/{id}" for a
// local or absolute RESTful reference, else the reference as written.
func subjectOf(res map[string]any) string {
	raw := resource.Str(resource.Obj(res, "subject"), "reference")
	if ref := resource.ParseReference(raw); ref.Type != "" && ref.ID != "" {
		return ref.Type + "/" + ref.ID
	}
	return raw
}

// planPatient returns the id of the Patient the plan is about, "" when its
// subject is not a local Patient reference to an existing Patient.
func (p *Plans) planPatient(ctx context.Context, view service.View, res map[string]any) (string, error) {
	ref := resource.ParseReference(resource.Str(resource.Obj(res, "subject"), "reference"))
	if !ref.IsLocal() || ref.Type != "Patient" {
		return "", nil
	}
	if _, ok := view.Version("Patient", ref.ID); ok {
		return ref.ID, nil // created by an earlier entry of the same transaction
	}
	if _, err := p.cfg.Store.Read(ctx, "Patient", ref.ID); err != nil {
		if k := outcome.KindOf(err); k == outcome.NotFound || k == outcome.Gone {
			return "", nil
		}
		return "", err
	}
	return ref.ID, nil
}

// approver is who approved a plan, for the Provenance and Composition.
type approver struct {
	who   reference
	known bool
}

// approverFrom returns the approving clinician, refusing other roles. With
// no principal (auth not wired) the approver is a clinician recorded as
// unknown.
func approverFrom(ctx context.Context) (approver, error) {
	pr := auth.FromContext(ctx)
	if pr == nil {
		return approver{who: reference{Display: "unknown (no authenticated user)"}}, nil
	}
	if pr.Role != auth.RoleClinical {
		return approver{}, outcome.Errorf(outcome.Forbidden, "approving an urgent care plan (status active) needs a clinician; role %q may not approve", string(pr.Role))
	}
	who := reference{Display: pr.Name}
	if pr.FHIRUser != "" {
		who.Reference = pr.FHIRUser
	} else if pr.UserID != "" {
		who.Identifier = &identifier{System: profiles.SystemSDSUserID, Value: pr.UserID}
	}
	if who == (reference{}) {
		who.Display = "unknown clinician (" + pr.Subject + ")"
	}
	return approver{who: who, known: pr.FHIRUser != ""}, nil
}

// ccText is a human-readable label for a CodeableConcept: its text, else the
// first coding's display, else its code.
func ccText(v any) string {
	m, _ := v.(map[string]any)
	if t := resource.Str(m, "text"); t != "" {
		return t
	}
	for _, c := range resource.List(m["coding"]) {
		cm, _ := c.(map[string]any)
		if d := resource.Str(cm, "display"); d != "" {
			return d
		}
	}
	for _, c := range resource.List(m["coding"]) {
		cm, _ := c.(map[string]any)
		if d := resource.Str(cm, "code"); d != "" {
			return d
		}
	}
	return ""
}
