// Package audit records every interaction with ucp as an R4 AuditEvent
// (https://hl7.org/fhir/R4/auditevent.html), stored in the store itself so
// that it is queryable over FHIR (AuditEvent?patient=…&date=…&agent=…).
//
// Writes are audited by [WriteInterceptor] in the same store transaction as
// the write. Everything else (reads, searches, history, operations, refused
// and failed requests) goes through [Sink], which appends to a durable
// journal before the request completes and drains it into the store in the
// background. [CollectingReader] and [WithCollector] tell the Sink which
// patients a request saw. [RefusedLogins] audits the requests the token
// verifier refuses before the REST layer sees them.
package audit

import (
	"context"
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

func coding(system, code, display string) map[string]any {
	c := map[string]any{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return c
}

// Build returns the AuditEvent resource for e with a new id, its meta set
// to version 1 at e.Time.
func Build(e *Event) map[string]any {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	t := e.Time.UTC().Truncate(time.Microsecond)
	ev := map[string]any{
		"resourceType": "AuditEvent",
		"meta":         map[string]any{"profile": []any{profiles.ProfileUKCoreAuditEvent}},
		"type":         coding(sysEventType, "rest", "RESTful Operation"),
		"action":       action(e.Interaction),
		"recorded":     resource.FormatInstant(t),
		"outcome":      eventOutcome(e.Status),
		"source":       source(),
	}
	subtype := []any{coding(sysInteraction, e.Interaction, "")}
	if e.Operation != "" {
		subtype = append(subtype, coding(SysOperation, e.Operation, "$"+e.Operation))
	}
	ev["subtype"] = subtype
	if desc := outcomeDesc(e); desc != "" {
		ev["outcomeDesc"] = desc
	}
	purpose := map[string]any{"coding": []any{coding(sysActReason, "TREAT", "treatment")}}
	if e.BreakGlass != "" {
		purpose = map[string]any{"coding": []any{coding(sysActReason, "BTG", "break the glass")}, "text": e.BreakGlass}
	}
	ev["purposeOfEvent"] = []any{purpose}
	ev["agent"] = agents(e.Principal, purpose)
	if ents := entities(e); len(ents) > 0 {
		ev["entity"] = ents
	}
	resource.SetMeta(ev, newEventID(), 1, t)
	return ev
}

// source is AuditEvent.source: this server.
func source() map[string]any {
	return map[string]any{
		"site":     Source,
		"observer": map[string]any{"display": Source},
		"type":     []any{coding(sysSourceType, "4", "Application Server")},
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
func agents(p *auth.Principal, purpose map[string]any) []any {
	if p == nil {
		return []any{map[string]any{
			"type":      map[string]any{"coding": []any{coding(sysAgentType, "humanuser", "human user")}},
			"who":       map[string]any{"display": "anonymous"},
			"requestor": true,
		}}
	}
	var out []any
	if !p.IsSystem() {
		who := map[string]any{}
		if p.UserID != "" && p.UserID != p.Subject {
			who["identifier"] = map[string]any{"system": SysSDSUser, "value": p.UserID}
		} else if p.Issuer != "" {
			who["identifier"] = map[string]any{"system": p.Issuer, "value": p.Subject}
		} else if p.Subject != "" {
			// An in-process principal (start-up work): no issuer, and FHIR
			// forbids an empty system.
			who["identifier"] = map[string]any{"value": p.Subject}
		}
		if ref := localRef(p.FHIRUser); ref != "" {
			who["reference"] = ref
		} else if p.Role == auth.RolePatient && p.Patient != "" {
			who["reference"] = "Patient/" + p.Patient
		}
		if p.Name != "" {
			who["display"] = p.Name
		}
		user := map[string]any{
			"type":         map[string]any{"coding": []any{coding(sysAgentType, "humanuser", "human user")}},
			"who":          who,
			"requestor":    true,
			"purposeOfUse": []any{purpose},
		}
		if p.Name != "" {
			user["name"] = p.Name
		}
		if p.UserID != "" {
			user["altId"] = p.UserID
		}
		var roles []any
		if p.RoleCode != "" {
			rc := map[string]any{"coding": []any{coding(SysSDSRole, p.RoleCode, p.RoleName)}}
			roles = append(roles, rc)
		}
		if p.Role != auth.RoleNone {
			roles = append(roles, map[string]any{"coding": []any{coding(SysUCPRole, string(p.Role), "")}})
		}
		if len(roles) > 0 {
			user["role"] = roles
		}
		if p.TokenID != "" {
			user["policy"] = []any{"urn:ucp:jti:" + p.TokenID}
		}
		out = append(out, user)
	}
	if p.Org != "" {
		out = append(out, map[string]any{
			"type":      map[string]any{"coding": []any{coding(sysRoleClass, "PROV", "healthcare provider")}},
			"who":       map[string]any{"identifier": map[string]any{"system": auth.ODSSystem, "value": p.Org}},
			"requestor": false,
		})
	}
	if p.ClientID != "" || p.IsSystem() {
		app := map[string]any{
			"type":      map[string]any{"coding": []any{coding(sysDICOM, "110150", "Application")}},
			"who":       map[string]any{"identifier": map[string]any{"system": SysClientID, "value": p.ClientID}},
			"requestor": p.IsSystem(),
		}
		if p.IsSystem() && p.TokenID != "" {
			app["policy"] = []any{"urn:ucp:jti:" + p.TokenID}
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

func entities(e *Event) []any {
	var out []any
	for _, id := range e.Patients {
		out = append(out, map[string]any{
			"what": map[string]any{"reference": "Patient/" + id},
			"type": coding(sysEntityType, "1", "Person"),
			"role": coding(sysObjectRole, "1", "Patient"),
		})
	}
	obj := map[string]any{"type": coding(sysEntityType, "2", "System Object")}
	switch {
	case e.Type != "" && e.ID != "":
		ref := e.Type + "/" + e.ID
		if e.Version > 0 {
			ref += "/_history/" + strconv.FormatInt(e.Version, 10)
		}
		obj["what"] = map[string]any{"reference": ref}
		obj["role"] = coding(sysObjectRole, "4", "Domain Resource")
	case e.Type != "":
		obj["what"] = map[string]any{"type": e.Type, "display": e.Type}
	}
	if e.Query != "" {
		// R4: entity.query is the query as base64Binary.
		obj["query"] = base64.StdEncoding.EncodeToString([]byte(e.Query))
		obj["role"] = coding(sysObjectRole, "24", "Query")
	}
	if e.Operation != "" {
		obj["detail"] = []any{map[string]any{"type": "operation", "valueString": "$" + e.Operation}}
	}
	if len(obj) > 1 {
		out = append(out, obj)
	}
	return out
}

// fromContext fills in the principal and break-glass reason of ctx.
func fromContext(ctx context.Context, e *Event) {
	e.Principal = auth.FromContext(ctx)
	if reason, ok := auth.BreakGlassFrom(ctx); ok {
		e.BreakGlass = reason
	}
}
