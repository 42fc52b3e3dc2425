package auth

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"ucp/fhir/outcome"
	"ucp/fhir/service"
)

// Access describes one interaction: the service's, so that the policy is
// the service's Authorizer as it stands.
type Access = service.Access

// CompartmentFunc reports whether the resource typ/id lies in the patient's
// compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html).
// [StoreCompartment] answers it from the store; without it, a
// patient-scoped read of anything but the Patient resource itself is
// refused, because the policy cannot see whose it is.
type CompartmentFunc func(ctx context.Context, patientID, typ, id string) (bool, error)

// Policy is the Authorizer: an interaction is allowed only if the role table
// allows it for the principal's role AND the token's scopes allow it.
// The zero value is not usable; start from [DefaultPolicy].
type Policy struct {
	// PlanTypes are the resource types a clinician may create, update and
	// patch: the care plan and its sections.
	PlanTypes []string `json:"planTypes"`
	// AdminTypes are the types admins manage: organisations,
	// information-sharing agreements (Contract), registered clients
	// (Device), endpoints and subscriptions.
	AdminTypes []string `json:"adminTypes"`
	// AuditTypes are readable by admins and system clients and written by
	// nobody through the API: the server writes the audit itself.
	AuditTypes []string `json:"auditTypes"`
	// PatientTypes are the types a patient may read (in their own
	// compartment, or definitions such as Questionnaire); Composition is
	// their plan's approved document (Composition/{id}/$document).
	PatientTypes []string `json:"patientTypes"`
	// PatientCreateTypes are the types a patient may create.
	PatientCreateTypes []string `json:"patientCreateTypes"`
	// PatientUpdateTypes are the types a patient may update or patch (in
	// their own compartment): their answers, saved and continued.
	PatientUpdateTypes []string `json:"patientUpdateTypes"`
	// Compartment checks patient-scoped reads and writes by id; see
	// CompartmentFunc.
	Compartment CompartmentFunc `json:"-"`
	// Patients finds the compartments new content would land in, for
	// [Policy.AuthorizeContent]; see PatientsFunc.
	Patients PatientsFunc `json:"-"`
	// Operator is the ODS code of the organisation that runs the service.
	// Only its admins record information-sharing agreements, read the
	// audit and run $reindex (see operator.go); "" means nobody's admins
	// may.
	Operator string `json:"operator,omitempty"`
	// Realm for the 401 challenge; default "ucp".
	Realm string `json:"realm,omitempty"`
}

// DefaultPolicy returns the policy of DESIGN.md "Security and governance".
func DefaultPolicy() *Policy {
	return &Policy{
		PlanTypes: []string{
			"CarePlan", "Goal", "Observation", "Condition", "Consent", "RelatedPerson", "CareTeam",
			"DocumentReference", "QuestionnaireResponse", "Task", "Flag", "Provenance", "Patient",
			"Practitioner", "PractitionerRole", "Communication", "ServiceRequest", "Procedure",
			"AllergyIntolerance", "MedicationStatement", "ClinicalImpression", "Binary", "Group",
		},
		AdminTypes: []string{"Organization", "Contract", "Device", "Endpoint", "Location", "HealthcareService", "Subscription"},
		AuditTypes: []string{"AuditEvent"},
		// A patient reads their own plan's sections, their anticipatory
		// medicines and ADRT/LPA flags included (the compartment check
		// keeps them to their own), but not the clinician's prognosis
		// (ClinicalImpression), which is for a conversation.
		PatientTypes: []string{"Patient", "CarePlan", "Goal", "Observation", "Condition", "Consent", "RelatedPerson", "CareTeam", "DocumentReference", "QuestionnaireResponse", "Task", "Questionnaire", "Composition",
			"Flag", "MedicationRequest", "MedicationStatement"},
		PatientCreateTypes: []string{"QuestionnaireResponse"},
		PatientUpdateTypes: []string{"QuestionnaireResponse"},
	}
}

// patientDefinitions are types outside any compartment that a patient may
// read whole (the forms they fill in).
var patientDefinitions = []string{"Questionnaire"}

func isReadish(interaction string) bool {
	switch interaction {
	case "read", "vread", "history-instance", "history-type", "search-type":
		return true
	}
	return false
}

// RoleAllows is the role table: may role perform interaction on typ,
// whatever the scopes say?
func (pol *Policy) RoleAllows(role Role, interaction, typ string) bool {
	switch interaction {
	case "capabilities":
		return true
	case "batch", "transaction":
		// The REST layer authorizes every entry on its own.
		return role != RoleNone
	}
	audit := slices.Contains(pol.AuditTypes, typ)
	switch role {
	case RoleClinical:
		switch interaction {
		case "create", "update", "patch":
			return slices.Contains(pol.PlanTypes, typ)
		}
		// No delete: a plan is revoked, never erased, so the record of what
		// urgent care was told survives. No system-wide history or search:
		// a clinician looks at one patient at a time.
		return isReadish(interaction) && !audit
	case RoleView:
		return isReadish(interaction) && !audit
	case RolePatient:
		switch interaction {
		case "create":
			return slices.Contains(pol.PatientCreateTypes, typ)
		case "update", "patch":
			return slices.Contains(pol.PatientUpdateTypes, typ)
		}
		return isReadish(interaction) && interaction != "history-type" && slices.Contains(pol.PatientTypes, typ)
	case RoleAdmin:
		if audit {
			return isReadish(interaction)
		}
		if !slices.Contains(pol.AdminTypes, typ) {
			return false
		}
		switch interaction {
		case "create", "update", "patch", "delete":
			return true
		}
		return isReadish(interaction)
	case RoleSystem:
		// Per its scopes, but never writing the audit trail.
		if audit {
			return isReadish(interaction) || interaction == "history-system" || interaction == "search-system"
		}
		_, _, known := InteractionPerm(interaction, false)
		return known
	}
	return false
}

// Authorize implements the REST layer's Authorizer.
func (pol *Policy) Authorize(ctx context.Context, a Access) error {
	if a.Interaction == "capabilities" {
		return nil // the CapabilityStatement is public (FHIR R4 §3.1.0.1.7 / SMART discovery)
	}
	p := FromContext(ctx)
	if p == nil {
		// A store error of kind Unauthenticated, so the REST layer's one
		// table answers 401; the AuthError inside gives the challenge.
		return &outcome.Error{Kind: outcome.Unauthenticated, Message: "authentication required: send a Bearer token",
			Err: &AuthError{Realm: pol.Realm, Description: "authentication required"}}
	}
	if p.Role == RoleNone {
		return forbidden("your role gives no access to care plans")
	}
	if a.Interaction == "operation" && a.Operation == "reindex" {
		return pol.authorizeReindex(p, a)
	}
	if !pol.RoleAllows(p.Role, a.Interaction, a.Type) {
		return forbidden("role %s may not %s %s", p.Role, a.Interaction, typeOrSystem(a.Type))
	}
	if a.Interaction == "batch" || a.Interaction == "transaction" {
		return nil
	}
	if err := pol.serviceLevel(p, a); err != nil {
		return err
	}
	ok, err := pol.scopesAllow(ctx, p, a)
	if err != nil {
		return err
	}
	if !ok {
		return forbidden("the token's scopes do not allow %s %s", a.Interaction, typeOrSystem(a.Type))
	}
	return nil
}

func typeOrSystem(t string) string {
	if t == "" {
		return "across all types"
	}
	return t
}

// scopesAllow checks the scopes at the levels the role may use: system
// scopes for systems, patient scopes for patients, user scopes for staff
// and, for a staff app launched on a patient, patient scopes within that
// patient's compartment.
func (pol *Policy) scopesAllow(ctx context.Context, p *Principal, a Access) (bool, error) {
	switch p.Role {
	case RoleSystem:
		return p.Scopes.AllowsQuery(LevelSystem, a.Interaction, a.Type, a.Query), nil
	case RolePatient:
		if p.Patient == "" || !p.Scopes.AllowsQuery(LevelPatient, a.Interaction, a.Type, a.Query) {
			return false, nil
		}
		return pol.inCompartment(ctx, p.Patient, a)
	default:
		if p.Scopes.AllowsQuery(LevelUser, a.Interaction, a.Type, a.Query) {
			return true, nil
		}
		if p.Patient == "" || !p.Scopes.AllowsQuery(LevelPatient, a.Interaction, a.Type, a.Query) {
			return false, nil
		}
		return pol.inCompartment(ctx, p.Patient, a)
	}
}

// inCompartment decides, from what the Access shows, whether the interaction
// stays inside the patient's compartment. It fails closed.
func (pol *Policy) inCompartment(ctx context.Context, patient string, a Access) (bool, error) {
	if slices.Contains(patientDefinitions, a.Type) {
		return a.Interaction != "create" && a.Interaction != "update" && a.Interaction != "patch" && a.Interaction != "delete", nil
	}
	switch a.Interaction {
	case "read", "vread", "history-instance", "update", "patch", "delete":
		// A write must also find the resource in the compartment already,
		// so nobody takes over another's; the new content is checked by
		// AuthorizeContent. An update that would create is refused: the
		// resource is in nobody's compartment yet.
		if a.Type == "Patient" {
			return a.ID == patient, nil
		}
		if pol.Compartment == nil || a.ID == "" {
			return false, nil
		}
		ok, err := pol.Compartment(ctx, patient, a.Type, a.ID)
		if err != nil {
			return false, err
		}
		return ok, nil
	case "search-type":
		q, err := url.ParseQuery(a.Query)
		if err != nil {
			return false, nil
		}
		for name := range q {
			// _revinclude, _has and iterated includes reach resources that
			// merely point at the patient's, which may be anyone's.
			if strings.HasPrefix(name, "_revinclude") || strings.HasPrefix(name, "_has") || strings.HasPrefix(name, "_include:iterate") {
				return false, nil
			}
		}
		if a.Type == "Patient" {
			return pinned(q, "_id", patient, patient), nil
		}
		ref := "Patient/" + patient
		return pinned(q, "patient", patient, ref) || pinned(q, "subject", ref, ref) ||
			pinned(q, "subject:Patient", patient, ref) || pinned(q, "patient:Patient", patient, ref), nil
	case "create":
		// Where the new resource lands is checked by AuthorizeContent,
		// which sees the content; here we only know the type is allowed.
		return a.Query == "", nil
	}
	return false, nil
}

// pinned reports whether q restricts name to exactly one of the given
// values (a single value, no comma OR list), so every match is the
// patient's.
func pinned(q url.Values, name string, values ...string) bool {
	for _, v := range q[name] {
		if strings.Contains(v, ",") {
			continue
		}
		if slices.Contains(values, v) {
			return true
		}
	}
	return false
}
