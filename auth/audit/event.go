// Package audit records every interaction with ucp as an R4 AuditEvent
// (https://hl7.org/fhir/R4/auditevent.html), stored in the store itself so
// that it is queryable over FHIR (AuditEvent?patient=…&date=…&agent=…).
//
// Writes are audited by [WriteInterceptor] in the same store transaction as
// the write. Everything else (reads, searches, history, operations, refused
// and failed requests) goes through [Sink], which appends to a durable
// journal before the request completes and drains it into the store in the
// background. [CollectingReader] notes in each interaction's
// service.Disclosure which patients it saw, and the Sink reads it from the
// AuditRecord's Call. [RefusedLogins] audits the requests the token
// verifier refuses before the REST layer sees them. [ImportEvent] records
// each file ucp import loads.
package audit

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/profiles"
)

// Code systems of the AuditEvent.
const (
	sysEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	sysInteraction = "http://hl7.org/fhir/restful-interaction"
	sysActReason   = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	sysEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	sysObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	sysSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	sysAgentType   = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	sysDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	sysRoleClass   = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
	// SysSDSUser identifies a person by their SDS user id (CIS2 nhsid_useruid).
	SysSDSUser = "https://fhir.nhs.uk/Id/sds-user-id"
	// SysSDSRole is the system of national RBAC role codes.
	SysSDSRole = "https://fhir.nhs.uk/Id/sds-role-profile-id"
	// SysUCPRole is the system of ucp's coarse roles (clinical, view…),
	// under the project's own canonical base.
	SysUCPRole = profiles.CodeSystemBaseURL + "role"
	// SysClientID identifies an OAuth client.
	SysClientID = "urn:ietf:params:oauth:client-id"
	// SysOperation is the system of the operation name in subtype.
	SysOperation = profiles.CodeSystemBaseURL + "operation"
)

// AuditEvents written by earlier releases carry https://ucp.nhs.uk/CodeSystem/role
// and https://ucp.nhs.uk/CodeSystem/operation, a domain the project does not
// own, in place of SysUCPRole and SysOperation. They stay as written (audit
// history is never rewritten) and are still found by code alone
// (subtype=export) or by the old system; nothing in ucp reads these systems
// back.

// Source is the audit source: this server.
const Source = "ucp"

// Event describes one audited interaction, from which [Build] makes the
// AuditEvent resource.
type Event struct {
	Interaction string // restful-interaction code: read, vread, search-type, create, operation…
	Operation   string // operation name without "$", for Interaction "operation"
	Type, ID    string // the resource or type touched, when any
	Version     int64  // the version written, when known
	Query       string // the search or condition query, when any
	Status      int    // HTTP status; 0 means success (a write audited before it is stored)
	Err         error  // the failure, for outcomeDesc
	Time        time.Time
	Patients    []string // ids of the patients whose data was touched
	Principal   *auth.Principal
	BreakGlass  string // the stated reason, for break-glass access
	// Details describe the object further (an import's file and counts).
	Details []Detail
	// Page is the web page the event records a view of (its path), and
	// Disclosed the further resources it showed, as references: an entity
	// each.
	Page      string
	Disclosed []string
}

// actions maps the interaction to AuditEvent.action.
func action(interaction string) string {
	switch interaction {
	case "create":
		return "C"
	case "update", "patch":
		return "U"
	case "delete":
		return "D"
	case "read", "vread", "search-type", "search-system", "history-instance", "history-type", "history-system", "capabilities":
		return "R"
	}
	return "E" // operation, batch, transaction
}

// eventOutcome maps an HTTP status to AuditEvent.outcome: 0 success, 4 minor
// failure (the client's request was refused or wrong and may be retried
// corrected), 8 serious failure (ours), 12 major failure (the service or
// its store was unavailable).
func eventOutcome(status int) string {
	switch {
	case status < 400:
		return "0"
	case status < 500:
		return "4"
	case status == 503 || status == 504:
		return "12"
	}
	return "8"
}

func coding(system, code, display string) Coding {
	return Coding{System: system, Code: code, Display: display}
}

// Build returns the AuditEvent for e with a new id, its meta set to version
// 1 at e.Time.
func Build(e *Event) *AuditEvent {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	t := resource.FormatInstant(e.Time)
	ev := &AuditEvent{
		ResourceType: "AuditEvent",
		ID:           newEventID(),
		Meta:         Meta{VersionID: "1", LastUpdated: t, Profile: []string{profiles.ProfileUKCoreAuditEvent}},
		Type:         coding(sysEventType, "rest", "RESTful Operation"),
		Action:       action(e.Interaction),
		Recorded:     t,
		Outcome:      eventOutcome(e.Status),
		OutcomeDesc:  outcomeDesc(e),
		Source:       source(),
	}
	ev.Subtype = make([]Coding, 1, 2)
	ev.Subtype[0] = coding(sysInteraction, e.Interaction, "")
	if e.Operation != "" {
		ev.Subtype = append(ev.Subtype, coding(SysOperation, e.Operation, "$"+e.Operation))
	}
	purpose := Concept{Coding: []Coding{coding(sysActReason, "TREAT", "treatment")}}
	if e.BreakGlass != "" {
		purpose = Concept{Coding: []Coding{coding(sysActReason, "BTG", "break the glass")}, Text: e.BreakGlass}
	}
	// One slice serves purposeOfEvent and the user's purposeOfUse: both
	// are only marshalled.
	purposes := []Concept{purpose}
	ev.PurposeOfEvent = purposes
	ev.Agent = agents(e.Principal, purposes)
	ev.Entity = entities(e)
	return ev
}

// source is AuditEvent.source: this server.
func source() EventSource {
	return EventSource{
		Site:     Source,
		Observer: Reference{Display: Source},
		Type:     []Coding{coding(sysSourceType, "4", "Application Server")},
	}
}

// newEventID returns a time-ordered UUID (version 7) for an AuditEvent. One
// is stored for every request, and a random id put each into a random page
// of the id indexes (resource, version): a batch of events dirtied a page
// per event per index, each written to the WAL and again at the
// checkpoint. Ids that grow with time append to the same few pages. The
// order says nothing an AuditEvent's recorded time does not.
func newEventID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}

func outcomeDesc(e *Event) string {
	var parts []string
	if e.Status >= 400 {
		msg := "refused"
		if e.Status >= 500 {
			msg = "failed"
		}
		if e.Err != nil {
			msg += ": " + e.Err.Error()
		}
		parts = append(parts, msg)
	}
	if e.BreakGlass != "" {
		parts = append(parts, "break-glass access: "+e.BreakGlass)
	}
	s := strings.Join(parts, "; ")
	if len(s) > 1000 {
		s = s[:1000]
	}
	return s
}

// agents returns the person (or system) behind the request with their role,
// their organisation, and the OAuth client as an application.
func agents(p *auth.Principal, purposes []Concept) []Agent {
	human := Concept{Coding: []Coding{coding(sysAgentType, "humanuser", "human user")}}
	if p == nil {
		return []Agent{{Type: human, Who: Reference{Display: "anonymous"}, Requestor: true}}
	}
	out := make([]Agent, 0, 3)
	if !p.IsSystem() {
		var who Reference
		if p.UserID != "" && p.UserID != p.Subject {
			who.Identifier = &Identifier{System: SysSDSUser, Value: p.UserID}
		} else if p.Issuer != "" {
			who.Identifier = &Identifier{System: p.Issuer, Value: p.Subject}
		} else if p.Subject != "" {
			// An in-process principal (start-up work): no issuer, and FHIR
			// forbids an empty system.
			who.Identifier = &Identifier{Value: p.Subject}
		}
		if ref := localRef(p.FHIRUser); ref != "" {
			who.Reference = ref
		} else if p.Role == auth.RolePatient && p.Patient != "" {
			who.Reference = "Patient/" + p.Patient
		}
		who.Display = p.Name
		user := Agent{Type: human, Who: who, Name: p.Name, AltID: p.UserID, Requestor: true, PurposeOfUse: purposes}
		if p.RoleCode != "" {
			user.Role = append(user.Role, Concept{Coding: []Coding{coding(SysSDSRole, p.RoleCode, p.RoleName)}})
		}
		if p.Role != auth.RoleNone {
			user.Role = append(user.Role, Concept{Coding: []Coding{coding(SysUCPRole, string(p.Role), "")}})
		}
		if p.TokenID != "" {
			user.Policy = []string{"urn:ucp:jti:" + p.TokenID}
		}
		out = append(out, user)
	}
	if p.Org != "" {
		out = append(out, Agent{
			Type: Concept{Coding: []Coding{coding(sysRoleClass, "PROV", "healthcare provider")}},
			Who:  Reference{Identifier: &Identifier{System: auth.ODSSystem, Value: p.Org}},
		})
	}
	if p.ClientID != "" || p.IsSystem() {
		app := Agent{
			Type:      Concept{Coding: []Coding{coding(sysDICOM, "110150", "Application")}},
			Who:       Reference{Identifier: &Identifier{System: SysClientID, Value: p.ClientID}},
			Requestor: p.IsSystem(),
		}
		if p.IsSystem() && p.TokenID != "" {
			app.Policy = []string{"urn:ucp:jti:" + p.TokenID}
		}
		out = append(out, app)
	}
	return out
}

// localRef returns fhirUser as a relative reference ("Practitioner/1"),
// taking the last two segments of an absolute URL, or "".
func localRef(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		s = strings.TrimSuffix(u.Path, "/")
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 {
		return ""
	}
	typ, id := parts[len(parts)-2], parts[len(parts)-1]
	if !resource.ValidType(typ) || !resource.ValidID(id) {
		return ""
	}
	return typ + "/" + id
}

func entities(e *Event) []Entity {
	n := len(e.Patients) + 1 + len(e.Disclosed)
	out := make([]Entity, 0, n)
	for _, id := range e.Patients {
		out = append(out, Entity{
			What: &Reference{Reference: "Patient/" + id},
			Type: coding(sysEntityType, "1", "Person"),
			Role: &Coding{System: sysObjectRole, Code: "1", Display: "Patient"},
		})
	}
	obj := Entity{Type: coding(sysEntityType, "2", "System Object")}
	switch {
	case e.Type != "" && e.ID != "":
		ref := e.Type + "/" + e.ID
		if e.Version > 0 {
			ref += "/_history/" + strconv.FormatInt(e.Version, 10)
		}
		obj.What = &Reference{Reference: ref}
		obj.Role = &Coding{System: sysObjectRole, Code: "4", Display: "Domain Resource"}
	case e.Type != "":
		obj.What = &Reference{Type: e.Type, Display: e.Type}
	}
	if e.Query != "" {
		// R4: entity.query is the query as base64Binary.
		obj.Query = base64.StdEncoding.EncodeToString([]byte(e.Query))
		obj.Role = &Coding{System: sysObjectRole, Code: "24", Display: "Query"}
	}
	if e.Operation != "" {
		obj.Detail = []Detail{{Type: "operation", ValueString: "$" + e.Operation}}
	}
	if e.Page != "" {
		obj.Detail = append(obj.Detail, Detail{Type: "page", ValueString: e.Page})
	}
	obj.Detail = append(obj.Detail, e.Details...)
	if obj.What != nil || obj.Query != "" || obj.Detail != nil {
		out = append(out, obj)
	}
	for _, ref := range e.Disclosed {
		out = append(out, Entity{What: &Reference{Reference: ref}, Type: coding(sysEntityType, "2", "System Object"),
			Role: &Coding{System: sysObjectRole, Code: "4", Display: "Domain Resource"}})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
