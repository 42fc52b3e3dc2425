package careplan

import (
	"bytes"
	"encoding/json"
	"fmt"

	"ucp/fhir/resource"
)

// The resources ucp authors for an approval, as typed values: the elements
// it sets, with their JSON names. They are ours rather than samply's
// r4.Composition and r4.Provenance because two elements are copied from
// the client's plan as written (the document type from the plan's
// category, the author when the approver is not known), and samply's
// types would drop what they cannot hold (extensions on primitives,
// `_display`) from data a clinician entered.

// composition is the plan's document Composition.
type composition struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Meta         meta         `json:"meta"`
	Identifier   identifier   `json:"identifier"`
	Status       string       `json:"status"`
	Type         any          `json:"type"` // a CodeableConcept: concept, or the plan's category as written
	Category     []concept    `json:"category"`
	Subject      reference    `json:"subject"`
	Date         string       `json:"date"`
	Author       []any        `json:"author"` // References: reference, or the plan's author as written
	Title        string       `json:"title"`
	Attester     []attester   `json:"attester"`
	Event        []event      `json:"event"`
	Section      []docSection `json:"section"`
}

type attester struct {
	Mode  string     `json:"mode"`
	Time  string     `json:"time"`
	Party *reference `json:"party,omitempty"`
}

type event struct {
	Detail []reference `json:"detail"`
}

type docSection struct {
	Title string      `json:"title"`
	Text  narrativeT  `json:"text"`
	Entry []reference `json:"entry"`
}

type narrativeT struct {
	Status string `json:"status"`
	Div    string `json:"div"`
}

// provenance records who approved the plan and the document.
type provenance struct {
	ResourceType string      `json:"resourceType"`
	Meta         meta        `json:"meta"`
	Target       []reference `json:"target"`
	Recorded     string      `json:"recorded"`
	Activity     concept     `json:"activity"`
	Agent        []provAgent `json:"agent"`
	Reason       []concept   `json:"reason"`
}

type provAgent struct {
	Type concept   `json:"type"`
	Who  reference `json:"who"`
}

type meta struct {
	Profile []string `json:"profile"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// documentBundle is the Bundle of $document.
type documentBundle struct {
	ResourceType string        `json:"resourceType"`
	Identifier   identifier    `json:"identifier"`
	Type         string        `json:"type"`
	Timestamp    string        `json:"timestamp"`
	Entry        []bundleEntry `json:"entry"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"` // a stored version's JSON
}

// marshal returns v, one of the types above, as JSON. It does not escape
// <, > and &: narratives are XHTML, and FHIR's JSON does not escape them.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Strings, structs of them, trees parsed from JSON and stored JSON:
		// a failure is a bug.
		panic(fmt.Sprintf("careplan: marshalling a %T: %v", v, err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// tree returns v, one of the types above, as the write pipeline's raw JSON
// tree.
func tree(v any) map[string]any {
	res, err := resource.Parse(marshal(v))
	if err != nil {
		panic(fmt.Sprintf("careplan: parsing a marshalled %T: %v", v, err))
	}
	return res
}
