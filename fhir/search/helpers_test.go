package search

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

var (
	regOnce sync.Once
	regErr  error
	reg     *Registry
)

// MustRegistry returns a shared registry with base URL
// https://ucp.example.org/fhir and a fixed clock.
func MustRegistry(tb testing.TB) *Registry {
	tb.Helper()
	regOnce.Do(func() {
		reg, regErr = NewRegistry()
		if regErr == nil {
			reg.SetBaseURL("https://ucp.example.org/fhir/")
			reg.now = func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
		}
	})
	if regErr != nil {
		tb.Fatal(regErr)
	}
	return reg
}

// MustResource parses JSON as the server does (numbers kept as json.Number).
func MustResource(tb testing.TB, s string) map[string]any {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

const patientJSON = `{
  "resourceType": "Patient", "id": "p1",
  "meta": {"lastUpdated": "2024-03-05T10:00:00Z", "tag": [{"system": "http://ucp/tags", "code": "vip", "display": "VIP"}],
           "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient|2.0"], "source": "http://gp.example/emis"},
  "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009",
                  "type": {"text": "NHS Number"}}],
  "active": true,
  "name": [{"use": "official", "family": "O'Brien", "given": ["Zoë", "Anne"], "prefix": ["Mrs"]},
           {"text": "Zoe  Smith"}],
  "telecom": [{"system": "phone", "value": "0123 456"}, {"system": "email", "value": "zoe@example.org"}],
  "gender": "female",
  "birthDate": "1950-07",
  "deceasedBoolean": false,
  "address": [{"line": ["12 High Street", "Flat 2"], "city": "Londön", "postalCode": "SW1A 1AA", "country": "GB"}],
  "generalPractitioner": [{"reference": "Organization/gp1"},
                          {"reference": "https://ucp.example.org/fhir/Practitioner/dr1"},
                          {"reference": "https://other.example/fhir/Practitioner/x"},
                          {"reference": "#c1"},
                          {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001"}}],
  "link": [{"other": {"reference": "Patient/p0"}, "type": "replaces"}]
}`

const carePlanJSON = `{
  "resourceType": "CarePlan", "id": "cp1",
  "meta": {"lastUpdated": "2024-03-05T10:00:00.123Z", "profile": ["https://ucp.example.org/fhir/StructureDefinition/UrgentCarePlan"]},
  "identifier": [{"system": "https://ucp.example.org/plan-id", "value": "UCP-1"}],
  "instantiatesCanonical": ["https://ucp.example.org/fhir/PlanDefinition/ucp|1.2"],
  "status": "active", "intent": "plan",
  "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "736373009", "display": "End of life care plan"}],
                "text": "Urgent care plan"}],
  "title": "Urgent care plan for Zoë",
  "subject": {"reference": "Patient/p1", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}},
  "encounter": {"reference": "Encounter/e1"},
  "period": {"start": "2024-03-05", "end": "2025-03-05T12:00:00+01:00"},
  "created": "2024-03-01T09:30:00Z",
  "author": {"reference": "Practitioner/dr1"},
  "careTeam": [{"reference": "CareTeam/ct1"}],
  "addresses": [{"reference": "Condition/c1"}],
  "goal": [{"reference": "Goal/g1"}],
  "activity": [
    {"detail": {"kind": "ServiceRequest", "code": {"coding": [{"system": "http://snomed.info/sct", "code": "304253006", "display": "Not for resuscitation"}]},
                "status": "scheduled", "scheduledTiming": {"event": ["2024-04-01T10:00:00Z", "2024-04-03"]},
                "performer": [{"reference": "Patient/p1"}, {"reference": "RelatedPerson/rp1"}]}},
    {"detail": {"status": "in-progress", "scheduledPeriod": {"start": "2024-05-01"},
                "performer": [{"reference": "Practitioner/dr2"}]}},
    {"reference": {"reference": "ServiceRequest/sr1"}}
  ]
}`
