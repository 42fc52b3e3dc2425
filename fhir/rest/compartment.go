package rest

import (
	"fmt"

	"github.com/gin-gonic/gin"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
)

// Compartment search (R4 search.html#compartments):
//
//	GET  /Patient/{id}/{type}?…         search {type} within the compartment
//	POST /Patient/{id}/{type}/_search   the same with a form body
//	GET  /Patient/{id}/*?…              every served type (narrowed by _type)
//
// The search is the ordinary one (every parameter, _include, _revinclude,
// paging, _summary…) with store.Query.Patient set, so only resources whose
// index recorded the Patient in their compartment match. Paging links keep
// the compartment path. Only the Patient compartment is supported; other
// compartments answer 404.
//
// Authorization: the Authorizer sees one Access per searched type, with
// Interaction "search-type", Type the searched type and Query
// "patient=Patient/{id}" followed by the client's own parameters (encoded),
// because restricting to the compartment means what pinning the search to
// the patient means to a policy; an authorizer that checks the patient
// pinning of patient-scoped searches thus treats a compartment search as a
// search of that patient's resources. For "*" each _type named must be
// allowed; without _type, * is every served type that is allowed, as for
// $everything (so a viewer's * leaves out the AuditEvents rather than
// failing). The authorization comes
// before the Patient is looked up, so an unauthorised client cannot probe
// which patients exist. The Patient must exist (404, 410 when deleted) and
// pass the ReadInterceptor; each entry then passes it as in any search.
func (s *Server) handleCompartmentSearch(c *gin.Context) error {
	typ, err := compartmentType(c.Param("type"), c.Param("comp"), c.Request.URL.Path)
	if err != nil {
		return err
	}
	if typ != "" {
		if err := s.checkType(typ); err != nil {
			return err
		}
	}
	return s.searchIn(c, typ, c.Param("id"))
}

// compartmentType is the type searched at path, the compartment search
// /{compartment}/{id}/{searched}: "" for *. Only the Patient compartment
// is served.
func compartmentType(compartment, searched, path string) (string, error) {
	if compartment != "Patient" {
		return "", &outcome.Error{Kind: outcome.NotFound, Code: "not-supported", Message: fmt.Sprintf("compartment %s is not supported: only Patient compartment searches are", compartment)}
	}
	if searched == "*" {
		return "", nil
	}
	if !resource.ValidType(searched) {
		return "", refuse(outcome.NotFound, "no FHIR endpoint at "+path)
	}
	return searched, nil
}
