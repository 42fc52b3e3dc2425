package service

import (
	"context"
	"fmt"
	"strings"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/store"
)

// reindexBatch is how many resources one store page and one Reindex
// transaction cover: large enough to amortise the transaction, small enough
// that a concurrent write never waits long for the writer.
const reindexBatch = 500

// maxReindexWarnings bounds the per-resource problems listed in the answer.
const maxReindexWarnings = 20

// reindexOperation is $reindex, built in when the store is a
// store.Reindexer: POST /fhir/$reindex re-extracts the index entries of
// every current resource of every served type, POST /fhir/{type}/$reindex
// those of one type, with the Registry's parameters as they are now; so a
// custom SearchParameter registered after resources were written finds
// them. It writes no version (see store.Reindexer).
//
// It runs synchronously, paging through the store reindexBatch resources at
// a time, each batch its own store transaction; the work is bounded by the
// number of stored resources and the client waits for it. That is fine for
// the sizes ucp serves (a batch of 500 takes tens of milliseconds) and
// keeps the operation simple: there is no job to poll. If the request is
// cancelled the batches done stay done; reindexing is idempotent, so the
// client simply calls it again. A resource written meanwhile is skipped (its
// write indexed it with the current parameters already), and a resource
// whose extraction fails (a custom expression that does not evaluate on it)
// keeps its old entries and is named in a warning.
//
// The answer is an OperationOutcome: one information issue with the count
// reindexed, and a warning per resource that could not be (at most
// maxReindexWarnings).
//
// Authorization: the Authorizer sees Interaction "operation", Operation
// "reindex" and the type at type level. At system level, where the
// dispatcher's Access has no type, the handler also asks for that same
// Access with each served type in turn before doing anything, so a policy
// that maps an unknown operation to "update" on its type (as cmd/ucp's
// does) requires write access to every type a system $reindex touches;
// one refusal refuses the whole operation.
func (s *Service) reindexOperation() Operation {
	return Operation{
		Name:       "reindex",
		Definition: "https://ucp.example.org/fhir/OperationDefinition/reindex",
		Documentation: "Re-extracts the search index entries of every current resource (of the type, or of every type at system level) " +
			"with the current search parameters, so custom SearchParameters find resources written before them. Synchronous; writes no version.",
		System:       true,
		Types:        []string{"*"},
		AffectsState: true,
		Handler:      s.reindex,
	}
}

func (s *Service) reindex(ctx context.Context, r *OperationRequest) (int, any, error) {
	rx, ok := s.cfg.Store.(store.Reindexer)
	if !ok {
		return 0, nil, outcome.Errorf(outcome.Unsupported, "$reindex: this store cannot reindex")
	}
	extra := false
	for k := range r.Query {
		extra = extra || k != "_format" && k != "_pretty"
	}
	// A Parameters body without parameters (what HAPI-style clients send
	// for an operation without any) asks for nothing.
	params, isList := r.Parameters["parameter"].([]any)
	if _, has := r.Parameters["parameter"]; has && (!isList || len(params) > 0) || r.Resource != nil || extra {
		return 0, nil, outcome.Errorf(outcome.Invalid, "$reindex takes no parameters")
	}
	types := []string{r.Type}
	if r.Type == "" {
		types = s.cfg.Types
		for _, t := range types {
			if err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "operation", Operation: "reindex", Type: t}); err != nil {
				return 0, nil, err
			}
		}
	}
	q := store.Query{Types: types, Count: reindexBatch, Total: store.TotalNone}
	done := 0
	var warnings []string
	failed := 0
	for {
		if err := ctx.Err(); err != nil {
			return 0, nil, outcome.Errorf(outcome.Internal, "$reindex interrupted after %d resources: %v", done, err)
		}
		page, err := s.cfg.Store.Search(ctx, q)
		if err != nil {
			return 0, nil, err
		}
		updates := make([]store.IndexUpdate, 0, len(page.Versions))
		for _, v := range page.Versions {
			u, err := s.reindexUpdate(v)
			if err != nil {
				failed++
				if len(warnings) < maxReindexWarnings {
					warnings = append(warnings, fmt.Sprintf("%s/%s: %v", v.Type, v.ID, err))
				}
				continue
			}
			updates = append(updates, u)
		}
		n, err := rx.Reindex(ctx, updates)
		if err != nil {
			return 0, nil, err
		}
		done += n
		if page.Next == "" || len(page.Versions) == 0 {
			break
		}
		q.Cursor = page.Next
	}
	scope := "every type"
	if r.Type != "" {
		scope = r.Type
	}
	oo := outcome.Info(fmt.Sprintf("reindexed %d resources (%s)", done, scope))
	for _, w := range warnings {
		oo.Issue = append(oo.Issue, outcome.Issue{Severity: "warning", Code: "processing", Diagnostics: "not reindexed: " + w})
	}
	if failed > len(warnings) {
		oo.Issue = append(oo.Issue, outcome.Issue{Severity: "warning", Code: "processing",
			Diagnostics: fmt.Sprintf("%d more resources not reindexed", failed-len(warnings))})
	}
	return 200, oo, nil
}

// reindexUpdate extracts the index of one stored version.
func (s *Service) reindexUpdate(v store.Version) (store.IndexUpdate, error) {
	res, err := resource.Parse(v.JSON)
	if err != nil {
		return store.IndexUpdate{}, err
	}
	entries, patients, err := s.cfg.Registry.Extract(res)
	if err != nil {
		if e := outcome.AsError(err); e != nil && e.Message != "" {
			return store.IndexUpdate{}, fmt.Errorf("%s", strings.TrimSpace(e.Message))
		}
		return store.IndexUpdate{}, err
	}
	return store.IndexUpdate{Type: v.Type, ID: v.ID, VersionID: v.VersionID, Entries: entries, Patients: patients}, nil
}
