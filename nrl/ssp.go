package nrl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
)

// InteractionContentRead is the Ssp-InteractionID of a consumer retrieving
// what an NRL pointer names through the Spine Secure Proxy.
const InteractionContentRead = "urn:nhs:names:services:nrl:DocumentReference.content.read"

// Identifier systems of the claims of the SSP's JWT.
const (
	systemAccredited = "https://fhir.nhs.uk/Id/accredited-system"
	systemSDSRole    = "https://fhir.nhs.uk/Id/sds-role-profile-id"
	systemSDSUser    = "https://fhir.nhs.uk/Id/sds-user-id"
)

// Writer writes resources as the caller in the context; *service.Service is
// one.
type Writer interface {
	Write(ctx context.Context, w *service.Write) (*service.Result, error)
}

// SSP serves the documents of pointers to consumers that come through the
// Spine Secure Proxy. It expects a listener that has already required and
// verified the proxy's client certificate (SSPTLSConfig); it checks the
// request is the plain GET the consumer specification allows, with the SSP
// headers and JWT, reads the document as a view-only principal named after
// the requesting system, and audits each document served.
type SSP struct {
	Docs Documents
	// Audit writes the AuditEvent of each document served, as Principal.
	Audit Writer
	// ASID is this service's Spine ASID: Ssp-To must name it.
	ASID string
	// Prefix is the path of the FHIR base (e.g. "/fhir"): the SSP forwards
	// the pointer's URL, which is below it.
	Prefix string
	// Base is the absolute FHIR base URL, for the fullUrls of the FHIR
	// document.
	Base string
	Now  func() time.Time
}

var (
	asidHeader = regexp.MustCompile(`^\d{12}$`)
	// sspRequest is what a pointer's URL may be below the base: nothing
	// else is served on the SSP listener.
	docPath = regexp.MustCompile(`^/_nrl/(pdf|plan|fhir|plan-fhir)/([A-Za-z0-9\-.]{1,64})$`)
)

// sspCaller is what the SSP's JWT and headers say about who is asking.
type sspCaller struct {
	TraceID      string
	From         string // Ssp-From: the consumer's ASID
	System       string // requesting_system, "system|ASID"
	Organization string // requesting_organization, "system|ODS"
	User         string // requesting_user, "system|id"
	Patient      string // requesting_patient: an NHS number, for patient access
}

// ServeHTTP answers a retrieval through the SSP: the PDF or the FHIR
// document, or an OperationOutcome that names no patient data.
func (s *SSP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, id, caller, err := s.check(r)
	if err != nil {
		outcome.Write(w, err)
		return
	}
	ctx := auth.NewContext(r.Context(), caller.principal())
	load := s.Docs.Load
	if kind == "plan" || kind == "plan-fhir" {
		load = s.Docs.LoadCurrent
	}
	d, err := load(ctx, id)
	if err == nil && caller.Patient != "" && nhsNumberOf(d.Patient) != caller.Patient {
		// A patient fetching through the SSP sees only their own plan; any
		// other is as if it did not exist.
		err = outcome.Errorf(outcome.NotFound, "no such document")
	}
	if err != nil {
		outcome.Write(w, err)
		return
	}
	contentType, render := ContentPDF, func() ([]byte, error) { return RenderPDF(d) }
	if kind == "fhir" || kind == "plan-fhir" {
		contentType, render = ContentFHIR, func() ([]byte, error) { return s.Docs.Bundle(ctx, d, s.Base) }
	}
	b, err := render()
	if err != nil {
		outcome.Write(w, err)
		return
	}
	// The document is disclosed only once its disclosure is on record.
	if err := s.audit(r, caller, d, contentType); err != nil {
		outcome.Write(w, err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// check refuses a request the SSP rules do not allow, each with its 4xx,
// before anything is read.
func (s *SSP) check(r *http.Request) (kind, id string, _ *sspCaller, _ error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return "", "", nil, outcome.Errorf(outcome.Forbidden, "the Spine Secure Proxy's client certificate is required")
	}
	if r.Method != http.MethodGet {
		return "", "", nil, outcome.Errorf(outcome.MethodNotAllowed, "the Spine Secure Proxy retrieves documents with GET only")
	}
	if r.URL.RawQuery != "" || r.URL.Fragment != "" {
		return "", "", nil, outcome.Errorf(outcome.Invalid, "a retrieval through the Spine Secure Proxy takes no parameters")
	}
	p, ok := strings.CutPrefix(r.URL.Path, strings.TrimSuffix(s.Prefix, "/"))
	m := docPath.FindStringSubmatch(p)
	if !ok || m == nil {
		return "", "", nil, outcome.Errorf(outcome.NotFound, "no document at this path")
	}
	c := &sspCaller{TraceID: r.Header.Get("Ssp-TraceID"), From: r.Header.Get("Ssp-From")}
	switch {
	case uuid.Validate(c.TraceID) != nil:
		return "", "", nil, outcome.Errorf(outcome.Invalid, "Ssp-TraceID must be a UUID")
	case !asidHeader.MatchString(c.From):
		return "", "", nil, outcome.Errorf(outcome.Invalid, "Ssp-From must be the consumer's 12-digit ASID")
	case r.Header.Get("Ssp-To") != s.ASID:
		return "", "", nil, outcome.Errorf(outcome.Forbidden, "Ssp-To does not name this service's ASID")
	case r.Header.Get("Ssp-InteractionID") != InteractionContentRead:
		return "", "", nil, outcome.Errorf(outcome.Forbidden, "Ssp-InteractionID must be %s", InteractionContentRead)
	}
	if err := c.readJWT(r.Header.Get("Authorization")); err != nil {
		return "", "", nil, err
	}
	if !strings.HasSuffix(c.System, "|"+c.From) {
		return "", "", nil, outcome.Errorf(outcome.Forbidden, "requesting_system does not name the ASID in Ssp-From")
	}
	return m[1], m[2], c, nil
}

// sspClaims are the claims ucp reads from the SSP's JWT.
type sspClaims struct {
	Exp          int64  `json:"exp"`
	System       string `json:"requesting_system"`
	Organization string `json:"requesting_organization"`
	User         string `json:"requesting_user"`
	Patient      string `json:"requesting_patient"`
}

// readJWT reads the JWT the consumer sent through the SSP. The SSP has
// authenticated the consumer (its client certificate is what this listener
// verified), and the JWT is unsigned by design (alg none), so it is
// decoded, not verified: no JOSE library accepts alg none, rightly. It says
// who is asking, for the audit and the access rules.
func (c *sspCaller) readJWT(h string) error {
	tok, ok := strings.CutPrefix(h, "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || len(parts) != 3 {
		return outcome.Errorf(outcome.Unauthenticated, "a JWT (Authorization: Bearer) is required")
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	var cl sspClaims
	if err != nil || json.Unmarshal(body, &cl) != nil {
		return outcome.Errorf(outcome.Unauthenticated, "the JWT's claims are not base64url JSON")
	}
	c.System, c.Organization, c.User = cl.System, cl.Organization, cl.User
	if v, ok := strings.CutPrefix(cl.Patient, SystemNHSNumber+"|"); ok {
		c.Patient = v
	}
	switch {
	case !hasValue(c.System, systemAccredited):
		return outcome.Errorf(outcome.Forbidden, "requesting_system must be %s|ASID", systemAccredited)
	case !hasValue(c.Organization, SystemODS):
		return outcome.Errorf(outcome.Forbidden, "requesting_organization must be %s|ODS", SystemODS)
	case c.User == "" && c.Patient == "":
		return outcome.Errorf(outcome.Forbidden, "requesting_user or requesting_patient (%s|NHS number) is required", SystemNHSNumber)
	case c.User != "" && !hasValue(c.User, systemSDSRole) && !hasValue(c.User, systemSDSUser):
		return outcome.Errorf(outcome.Forbidden, "requesting_user must be an SDS user or role profile id")
	case cl.Exp != 0 && time.Unix(cl.Exp, 0).Before(time.Now()):
		return outcome.Errorf(outcome.Unauthenticated, "the JWT has expired")
	}
	return nil
}

func hasValue(claim, system string) bool {
	v, ok := strings.CutPrefix(claim, system+"|")
	return ok && v != "" && len(v) <= 64
}

// sspScopes are all an SSP consumer may do: read what a document is made
// from (and search a patient's Compositions for the current approval, for
// a dynamic pointer).
const sspScopes = "user/Composition.rs user/CarePlan.r user/Patient.r"

// principal is who reads the document: a view-only caller (the SSP's
// consumers read, never write) named after the requesting system, with
// sspScopes.
func (c *sspCaller) principal() *auth.Principal {
	_, asid, _ := strings.Cut(c.System, "|")
	_, org, _ := strings.Cut(c.Organization, "|")
	scopes, _ := auth.ParseScopes(sspScopes) // a constant; TestSSPRetrieval reads with it
	return &auth.Principal{Role: auth.RoleView, Subject: "ssp:" + asid, ClientID: asid, Org: org,
		Name: "Spine Secure Proxy consumer " + asid, Scopes: scopes}
}

// audit records a document served through the SSP (DICOM Export), with
// the trace id, the requesting system, organisation and user or patient,
// and the version of the plan served.
func (s *SSP) audit(r *http.Request, c *sspCaller, d Document, contentType string) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	who := c.User
	if who == "" {
		who = SystemNHSNumber + "|" + c.Patient
	}
	ident := func(claim string) map[string]any {
		sys, v, _ := strings.Cut(claim, "|")
		return map[string]any{"system": sys, "value": v}
	}
	plan := d.PlanRef()
	pat := refID(resource.Str(resource.Obj(d.Composition, "subject"), "reference"), "Patient")
	ev := map[string]any{
		"resourceType": "AuditEvent",
		"id":           uuid.NewString(),
		"type":         map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106", "display": "Export"},
		"subtype":      []any{map[string]any{"system": "urn:nhs:names:services:nrl", "code": InteractionContentRead}},
		"action":       "R",
		"recorded":     resource.FormatInstant(now()),
		"outcome":      "0",
		"agent": []any{
			map[string]any{"who": map[string]any{"identifier": ident(who)}, "requestor": true},
			map[string]any{"who": map[string]any{"identifier": ident(c.Organization)}, "requestor": false},
			map[string]any{"who": map[string]any{"identifier": ident(c.System)}, "requestor": false,
				"network": map[string]any{"address": r.RemoteAddr, "type": "2"}},
		},
		"source": map[string]any{"observer": map[string]any{"display": "ucp (Spine Secure Proxy retrieval)"}},
		"entity": []any{
			map[string]any{"what": map[string]any{"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/ssp-trace-id", "value": c.TraceID}},
				"name": "Ssp-TraceID"},
			map[string]any{"what": map[string]any{"reference": "CarePlan/" + plan.ID + "/_history/" + plan.Version}, "name": "version served",
				"description": "served as " + contentType},
			map[string]any{"what": map[string]any{"reference": "Composition/" + resource.Str(d.Composition, "id")}},
			map[string]any{"what": map[string]any{"reference": "Patient/" + pat},
				"type": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"}},
		},
	}
	_, err := s.Audit.Write(auth.NewContext(r.Context(), Principal), &service.Write{Interaction: "create", Method: "POST", Type: "AuditEvent", Resource: ev})
	return err
}

// SSPTLSConfig is the TLS configuration of the listener the Spine Secure
// Proxy connects to: a client certificate issued by a CA in caPEM is
// required and verified in the handshake, so that nothing reaches SSP
// without it.
func SSPTLSConfig(caPEM []byte, cert tls.Certificate) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("nrl: no CA certificate in the SSP CA file")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
