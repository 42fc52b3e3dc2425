package audit

import (
	"encoding/json"
	"fmt"

	"ucp/fhir/resource"
)

// AuditEvent is the R4 AuditEvent ucp writes
// (https://hl7.org/fhir/R4/auditevent.html): the elements it sets, with
// their JSON names. It is ours rather than samply's r4.AuditEvent because
// samply's entity detail always writes both valueString and
// valueBase64Binary (R4 allows one value[x]), its required elements are
// written even when empty, and its pointer fields cost an allocation per
// string on a path every request takes.
type AuditEvent struct {
	ResourceType   string      `json:"resourceType"`
	ID             string      `json:"id"`
	Meta           Meta        `json:"meta"`
	Type           Coding      `json:"type"`
	Subtype        []Coding    `json:"subtype,omitempty"`
	Action         string      `json:"action"`
	Period         *Period     `json:"period,omitempty"`
	Recorded       string      `json:"recorded"`
	Outcome        string      `json:"outcome"`
	OutcomeDesc    string      `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []Concept   `json:"purposeOfEvent,omitempty"`
	Agent          []Agent     `json:"agent"`
	Source         EventSource `json:"source"`
	Entity         []Entity    `json:"entity,omitempty"`
}

// Meta is Resource.meta.
type Meta struct {
	VersionID   string   `json:"versionId"`
	LastUpdated string   `json:"lastUpdated"`
	Profile     []string `json:"profile,omitempty"`
}

// Coding is an R4 Coding.
type Coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// Concept is an R4 CodeableConcept.
type Concept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Identifier is an R4 Identifier. System may be empty (an in-process
// principal has no issuer); FHIR forbids an empty string, so it is left out.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Reference is an R4 Reference.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Period is an R4 Period.
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Agent is AuditEvent.agent.
type Agent struct {
	Type         Concept   `json:"type"`
	Role         []Concept `json:"role,omitempty"`
	Who          Reference `json:"who"`
	AltID        string    `json:"altId,omitempty"`
	Name         string    `json:"name,omitempty"`
	Requestor    bool      `json:"requestor"`
	Policy       []string  `json:"policy,omitempty"`
	Network      *Network  `json:"network,omitempty"`
	PurposeOfUse []Concept `json:"purposeOfUse,omitempty"`
}

// Network is AuditEvent.agent.network.
type Network struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

// EventSource is AuditEvent.source.
type EventSource struct {
	Site     string    `json:"site"`
	Observer Reference `json:"observer"`
	Type     []Coding  `json:"type"`
}

// Entity is AuditEvent.entity.
type Entity struct {
	What        *Reference `json:"what,omitempty"`
	Type        Coding     `json:"type"`
	Role        *Coding    `json:"role,omitempty"`
	Description string     `json:"description,omitempty"`
	Query       string     `json:"query,omitempty"` // base64Binary
	Detail      []Detail   `json:"detail,omitempty"`
}

// Detail is AuditEvent.entity.detail with a string value.
type Detail struct {
	Type        string `json:"type"`
	ValueString string `json:"valueString"`
}

// JSON returns the resource as JSON.
func (ev *AuditEvent) JSON() []byte {
	b, err := json.Marshal(ev)
	if err != nil {
		// Every field is a string, a bool or a struct of them: a failure is a bug.
		panic(fmt.Sprintf("audit: marshalling an AuditEvent: %v", err))
	}
	return b
}

// Resource returns the resource as the write pipeline's raw JSON tree.
func (ev *AuditEvent) Resource() map[string]any {
	res, err := resource.Parse(ev.JSON())
	if err != nil {
		panic(fmt.Sprintf("audit: parsing a marshalled AuditEvent: %v", err))
	}
	return res
}

// SearchParams are the AuditEvent search parameters a store of AuditEvents
// must index (besides _id and _lastUpdated): who (agent), whose data
// (patient, entity), when (date), what (type, subtype), how it ended
// (outcome), and from where (address, which finds the refused logins of
// one client). ucp's own audit store keeps only these (cmd/ucp, store/split);
// a search by another AuditEvent parameter is refused there.
func SearchParams() []string {
	return []string{"patient", "agent", "entity", "date", "type", "subtype", "outcome", "address"}
}
