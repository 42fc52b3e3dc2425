package rest

import (
	"context"
)

// Custom search parameters at run time.
//
// A SearchParameter resource written through the API (create, update,
// patch, in batches and transactions alike) whose status is "active" and
// one of whose base types is served (or "Resource") is registered in the
// Registry by the service's write pipeline once the write is stored, so
// searches and the CapabilityStatement know it from then on. Updating it re-registers it (the old url is
// unregistered first when it changed, or when the parameter is no longer
// active); deleting it unregisters it. A definition the Registry refuses (no
// url, a bad code, an expression that does not compile, a code clashing with
// another parameter of a base) refuses the write with 422 naming why,
// before anything is stored. Several SearchParameter resources with one url
// share one registration: the last written wins, and deleting any of them
// unregisters the url.
//
// Only resources written after the parameter was registered are indexed
// for it: resources stored before are not found by it until they are
// re-extracted with $reindex (POST [base]/$reindex, or [base]/{type}/$reindex
// for one type; see reindex.go). The CapabilityStatement says so in each
// custom parameter's documentation (customParamNote).

// customParamNote is appended to a custom parameter's documentation in the
// CapabilityStatement.
const customParamNote = "(Custom parameter: resources written before it was registered are not found by it until reindexed with POST [base]/$reindex or [base]/[type]/$reindex.)"

// LoadSearchParameters registers every stored SearchParameter that is
// active and has a served base, so custom parameters survive a restart
// (see service.Service.LoadSearchParameters).
func (s *Server) LoadSearchParameters(ctx context.Context) error {
	return s.svc.LoadSearchParameters(ctx)
}
