package audit

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
)

// AccessLogReader is the principal Patient/{id}/$access-log reads the audit
// as, once the caller is authorised (auth.OperationPolicy lets a patient call
// it on their own record only); the server trusts it by identity
// (auth.InProcess).
var AccessLogReader = &auth.Principal{Role: auth.RoleAdmin, Subject: "ucp-access-log", UserID: "ucp-access-log", Name: "ucp access log"}

// Searcher is what the access log needs of the FHIR service.
type Searcher interface {
	Search(ctx context.Context, r service.SearchRequest) (*service.SearchResult, error)
}

// How much of the audit the access log looks through and shows.
const (
	accessLogScan  = 500
	accessLogShown = 50
	// accessLogMerge joins the reads of one person of one organisation this
	// close together into one look (an API client reads a plan's sections
	// one request at a time).
	accessLogMerge = 10 * time.Minute
)

// AccessLogOperation is Patient/{id}/$access-log: who has looked at the
// patient's record, newest first, for the patient themselves. It answers a
// Parameters resource with one "access" part per look and nothing else of
// the audit: when, the organisation (ODS code and name), the role, the
// person's name where the audit has it, and whether it was emergency
// access (never the reason given, which may name other people). Events
// that also name other patients are shown without naming them; the
// patient's own views are left out.
func AccessLogOperation(svc Searcher) service.Operation {
	return service.Operation{
		Name:          "access-log",
		Definition:    strings.Replace(profiles.BaseURL, "StructureDefinition/", "OperationDefinition/Patient-access-log", 1),
		Documentation: "Who has looked at a patient's record (when, organisation, role, name, emergency access), for the patient.",
		Instance:      []string{"Patient"},
		Handler: func(ctx context.Context, req *service.OperationRequest) (int, any, error) {
			looks, err := AccessLog(auth.NewContext(ctx, AccessLogReader), svc, req.ID)
			if err != nil {
				return 0, nil, err
			}
			params := make([]any, 0, len(looks))
			for _, l := range looks {
				params = append(params, l.part())
			}
			return http.StatusOK, map[string]any{"resourceType": "Parameters", "parameter": params}, nil
		},
	}
}

// Look is one look at a patient's record, as the access log shows it.
type Look struct {
	When time.Time
	// Org is the organisation's ODS code, OrgName its name where ucp holds
	// the Organization.
	Org, OrgName string
	// Role is the ucp role (clinical, view, …); RoleName the national RBAC
	// role's name where the sign-in gave one.
	Role, RoleName string
	Name           string
	Emergency      bool
}

func (l Look) part() map[string]any {
	parts := []any{map[string]any{"name": "when", "valueInstant": resource.FormatInstant(l.When)}}
	if l.Org != "" {
		org := map[string]any{"system": auth.ODSSystem, "value": l.Org}
		parts = append(parts, map[string]any{"name": "organisation", "valueIdentifier": org})
	}
	if l.OrgName != "" {
		parts = append(parts, map[string]any{"name": "organisationName", "valueString": l.OrgName})
	}
	if l.Role != "" {
		parts = append(parts, map[string]any{"name": "role", "valueCode": l.Role})
	}
	if l.RoleName != "" {
		parts = append(parts, map[string]any{"name": "roleName", "valueString": l.RoleName})
	}
	if l.Name != "" {
		parts = append(parts, map[string]any{"name": "name", "valueString": l.Name})
	}
	parts = append(parts, map[string]any{"name": "emergency", "valueBoolean": l.Emergency})
	return map[string]any{"name": "access", "part": parts}
}

// AccessLog reads the successful reads of patient's record from the audit,
// as the principal in ctx, and returns them as looks, newest first.
func AccessLog(ctx context.Context, svc Searcher, patient string) ([]Look, error) {
	q := url.Values{"patient": {"Patient/" + patient}, "_sort": {"-date"}, "_count": {strconv.Itoa(accessLogScan)}}
	res, err := svc.Search(ctx, service.SearchRequest{Type: "AuditEvent", Params: q, Query: q.Encode()})
	if err != nil {
		return nil, err
	}
	own := "Patient/" + patient
	orgNames := map[string]string{}
	var out []Look
	for _, v := range res.Matches {
		ev, err := resource.Parse(v.JSON)
		if err != nil {
			return nil, err
		}
		l, ok := lookOf(ev, own)
		if !ok {
			continue
		}
		if n := len(out); n > 0 && out[n-1].same(l) && out[n-1].When.Sub(l.When) <= accessLogMerge {
			continue // the same look, read in several requests
		}
		if len(out) == accessLogShown {
			break
		}
		if l.Org != "" {
			name, ok := orgNames[l.Org]
			if !ok {
				name = orgName(ctx, svc, l.Org)
				orgNames[l.Org] = name
			}
			l.OrgName = name
		}
		out = append(out, l)
	}
	return out, nil
}

func (l Look) same(o Look) bool {
	return l.Org == o.Org && l.Role == o.Role && l.RoleName == o.RoleName && l.Name == o.Name && l.Emergency == o.Emergency
}

// lookOf reads one AuditEvent: a successful read (action R or E) of the
// record, by someone other than the patient.
func lookOf(ev map[string]any, own string) (Look, bool) {
	switch resource.Str(ev, "action") {
	case "R", "E":
	default:
		return Look{}, false
	}
	if resource.Str(ev, "outcome") != "0" {
		return Look{}, false
	}
	when, err := time.Parse(time.RFC3339Nano, resource.Str(ev, "recorded"))
	if err != nil {
		return Look{}, false
	}
	l := Look{When: when}
	for _, p := range resource.List(ev["purposeOfEvent"]) {
		if resource.HasCoding(p, sysActReason, "BTG") {
			l.Emergency = true
		}
	}
	for _, a := range resource.List(ev["agent"]) {
		am, _ := a.(map[string]any)
		who := resource.Obj(am, "who")
		if am["requestor"] == true && resource.HasCoding(am["type"], sysAgentType, "humanuser") {
			if resource.Str(who, "reference") == own {
				return Look{}, false // the patient's own view
			}
			l.Name = resource.Str(am, "name")
			for _, r := range resource.List(am["role"]) {
				rm, _ := r.(map[string]any)
				for _, c := range resource.List(rm["coding"]) {
					cm, _ := c.(map[string]any)
					switch resource.Str(cm, "system") {
					case SysUCPRole, "https://ucp.nhs.uk/CodeSystem/role":
						l.Role = resource.Str(cm, "code")
					case SysSDSRole:
						l.RoleName = resource.Str(cm, "display")
					}
				}
			}
		}
		if id := resource.Obj(who, "identifier"); resource.Str(id, "system") == auth.ODSSystem {
			l.Org = resource.Str(id, "value")
		}
	}
	return l, true
}

// orgName is the name of the Organization with ODS code ods, "" when ucp
// holds none.
func orgName(ctx context.Context, svc Searcher, ods string) string {
	q := url.Values{"identifier": {auth.ODSSystem + "|" + ods}, "_count": {"1"}}
	res, err := svc.Search(ctx, service.SearchRequest{Type: "Organization", Params: q, Query: q.Encode()})
	if err != nil || len(res.Matches) == 0 {
		return ""
	}
	org, err := resource.Parse(res.Matches[0].JSON)
	if err != nil {
		return ""
	}
	return resource.Str(org, "name")
}
