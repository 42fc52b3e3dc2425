package service

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/store"
)

// everythingRefTypes are the types $everything adds when a compartment
// resource refers to them: the people and organisations a care plan names
// (authors, performers, contacts, custodians) and the few things needed to
// read the clinical record. They are not in the Patient compartment (except
// RelatedPerson, which is when it points at the patient) but a record
// without them is unreadable.
var everythingRefTypes = map[string]bool{
	"Practitioner": true, "PractitionerRole": true, "Organization": true, "RelatedPerson": true,
	"Location": true, "Medication": true, "Device": true, "HealthcareService": true,
}

// everythingOperation is Patient/{id}/$everything (R4
// patient-operation-everything). Registered by New unless Config.Operations
// replaces it.
//
// The result is a searchset Bundle: the Patient and every resource in their
// compartment of the served types, as "match" entries, paged by the store's
// cursor over one multi-type query (stable: each match appears on exactly
// one page). Each page also carries, as "include" entries, the resources of
// everythingRefTypes that its matches refer to (local references only) and
// that are not already on the page; these may repeat across pages, and are
// included whatever their lastUpdated, since a _since client still needs
// the practitioner an updated care plan names.
//
// Parameters: _count (page size, default search.DefaultCount, at most
// search.MaxCount), _since (only resources whose lastUpdated is at or after
// it; the Patient too), _type (comma-separated served types; the Patient is
// in the result only when Patient is listed). start and end (care dates)
// are not supported and refused rather than silently ignored. The
// Authorizer sees Interaction "operation", Operation "everything", then each
// type as a search-type pinned to the patient (a refused type is left out,
// see SearchableIn) and each included resource as a read
// (left out when refused); the ReadInterceptor filters the Patient (a refusal answers the
// request) and every entry (left out).
func (s *Service) everythingOperation() Operation {
	return Operation{
		Name:       "everything",
		Definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything",
		Documentation: "The patient, every resource in their compartment and the practitioners, organisations and related persons those refer to; " +
			"supports _count, _since and _type (not start/end); paged with next links.",
		Instance: []string{"Patient"},
		Handler:  s.everything,
	}
}

func (s *Service) everything(ctx context.Context, r *OperationRequest) (status int, body any, err error) {
	s = s.For(r.Call) // the handler is bound to the service as built
	err = s.Bounded(ctx, func(ctx context.Context) error {
		status, body, err = s.everythingWithin(ctx, r)
		return err
	})
	return status, body, err
}

// everythingWithin is $everything within the search's deadline (ctx).
func (s *Service) everythingWithin(ctx context.Context, r *OperationRequest) (int, any, error) {
	for _, p := range []string{"start", "end"} {
		if r.String(p) != "" {
			return 0, nil, outcome.Errorf(outcome.Unsupported, "$everything: parameter %s is not supported", p)
		}
	}
	if _, err := s.Visible(ctx, "Patient", r.ID); err != nil {
		return 0, nil, err
	}
	// link holds the parameters as they will be repeated in paging links.
	link := url.Values{}
	pv := url.Values{}
	if ts := r.Strings("_type"); len(ts) > 0 {
		for _, v := range ts {
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					if !s.types[t] {
						return 0, nil, &outcome.Error{Kind: outcome.NotFound, Code: "not-supported", Message: fmt.Sprintf("resource type %q is not supported by this server", t)}
					}
				}
			}
		}
		pv["_type"] = ts
		link["_type"] = ts
	}
	if n := r.String("_count"); n != "" {
		pv.Set("_count", n)
		link.Set("_count", n)
	}
	if since := r.String("_since"); since != "" {
		t, err := ParseInstant(since)
		if err != nil {
			return 0, nil, outcome.At(outcome.Invalid, "_since", "_since: %v", err)
		}
		pv.Set("_lastUpdated", "ge"+resource.FormatInstant(t))
		link.Set("_since", since)
	}
	req, err := s.cfg.Registry.Parse(ctx, "", pv, true)
	if err != nil {
		return 0, nil, err
	}
	q := req.Query
	q.Patient = r.ID
	scope := CursorScope("everything", r.ID, link)
	if q.Cursor, err = s.OpenCursor(ctx, scope, r.String("_cursor")); err != nil {
		return 0, nil, err
	}
	if len(q.Types) == 0 {
		q.Types = s.cfg.Types
	}
	if q.Types, err = s.SearchableIn(ctx, r.ID, q.Types); err != nil {
		return 0, nil, err
	}
	res := &store.Result{}
	if len(q.Types) > 0 { // none: nothing the caller may see (no types would mean all)
		if res, err = s.cfg.Store.Search(ctx, q); err != nil {
			return 0, nil, err
		}
	}
	b := &Bundle{ResourceType: "Bundle", ID: uuid.NewString(), Type: "searchset",
		Meta: &BundleMeta{LastUpdated: resource.FormatInstant(s.now())}}
	self := r.Base + "/Patient/" + url.PathEscape(r.ID) + "/$everything?"
	b.Link = append(b.Link, BundleLink{Relation: "self", URL: self + EncodeParams(link, r.String("_cursor"))})
	if res.Next != "" {
		b.Link = append(b.Link, BundleLink{Relation: "next", URL: self + EncodeParams(link, s.SealCursor(ctx, scope, res.Next))})
	}
	if res.Prev != "" {
		b.Link = append(b.Link, BundleLink{Relation: "previous", URL: self + EncodeParams(link, s.SealCursor(ctx, scope, res.Prev))})
	}
	seen := map[string]bool{}
	var refs []store.Ref
	hidden := 0
	for i := range res.Versions {
		v := &res.Versions[i]
		if s.cfg.ReadInterceptor.AllowRead(ctx, v, Disclose, s.call) != nil {
			hidden++
			continue
		}
		seen[v.Type+"/"+v.ID] = true
		b.Entry = append(b.Entry, BundleEntry{
			FullURL: r.Base + "/" + v.Type + "/" + v.ID, Resource: v.JSON, Search: &BundleSearch{Mode: "match"},
		})
		refs = appendRefs(refs, v.JSON, r.Base)
	}
	if b.Total, err = s.SearchTotal(ctx, q, res, hidden); err != nil {
		return 0, nil, err
	}
	for _, ref := range refs {
		k := ref.String()
		if seen[k] || !everythingRefTypes[ref.Type] || !s.types[ref.Type] || len(seen) >= len(res.Versions)+s.cfg.MaxIncluded {
			continue
		}
		seen[k] = true
		v, err := s.cfg.Store.Read(ctx, ref.Type, ref.ID)
		switch outcome.KindOf(err) {
		case outcome.Internal:
			if err != nil {
				return 0, nil, err
			}
		case outcome.NotFound, outcome.Gone:
			continue // a dangling reference: nothing to add
		default:
			return 0, nil, err
		}
		// As for _include: a read of its own type, which the caller's
		// role and scopes must allow.
		if s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "read", Type: v.Type, ID: v.ID}) != nil {
			continue
		}
		if s.cfg.ReadInterceptor.AllowRead(ctx, v, Disclose, s.call) != nil {
			continue
		}
		b.Entry = append(b.Entry, BundleEntry{
			FullURL: r.Base + "/" + v.Type + "/" + v.ID, Resource: v.JSON, Search: &BundleSearch{Mode: "include"},
		})
	}
	return http.StatusOK, MarshalBundle(b), nil
}

// appendRefs appends the local references ("Type/id", or absolute below
// base) found anywhere in a resource's JSON, in document order.
func appendRefs(out []store.Ref, doc []byte, base string) []store.Ref {
	var root any
	if json.Unmarshal(doc, &root) != nil {
		return out
	}
	var walk func(any)
	walk = func(n any) {
		switch x := n.(type) {
		case map[string]any:
			if ref, ok := x["reference"].(string); ok {
				ref = strings.TrimPrefix(ref, base+"/")
				if t, id, ok := strings.Cut(ref, "/"); ok && resource.ValidType(t) && resource.ValidID(id) {
					out = append(out, store.Ref{Type: t, ID: id})
				}
			}
			// Sorted keys: the include entries come in the same order on
			// every request.
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(x[k])
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(root)
	return out
}

// ParseInstant parses a FHIR instant or a partial date-time (_since,
// _at), in UTC.
func ParseInstant(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad instant %q", v)
}
