package service

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/google/uuid"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/store"
)

// Entry is one entry of a transaction or batch Bundle, as its door decoded
// it (R4 http.html#transaction).
type Entry struct {
	Index    int    // the position in the Bundle, for errors
	Method   string // GET, HEAD, POST, PUT, PATCH or DELETE
	URL      string // request.url as written
	Path     string // request.url relative to the base, with its query
	Type, ID string // from request.url
	Query    string // the condition (or search) query of request.url
	FullURL  string
	// Resource is the content of a POST or PUT (the transaction writes a
	// copy, with its references rewritten), or the patch of a PATCH.
	Resource map[string]any
	// Patch computes the new content of a PATCH from the current version.
	Patch       func(cur *store.Version) (map[string]any, error)
	IfMatch     int64 // 0 when absent
	IfNoneExist string
	// IfNoneMatch and IfModifiedSince are a GET entry's, for the door.
	IfNoneMatch, IfModifiedSince string
}

// EntryResult is what a transaction did for one entry. GET and HEAD
// entries get the zero EntryResult: they are the door's to answer, after
// the transaction.
type EntryResult struct {
	Outcome Outcome
	// Version is the written or matched version; nil when nothing was.
	Version *store.Version
	// Err is why a batch entry failed (Service.Bundle); nil otherwise.
	Err error
}

// EntryError is an error about one entry of a Bundle.
type EntryError struct {
	Index int
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("Bundle.entry[%d]: %v", e.Index, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

func entryErr(e *Entry, err error) error { return &EntryError{Index: e.Index, Err: err} }

// txEntry is a transaction entry being processed.
type txEntry struct {
	*Entry
	res     map[string]any // the copy written
	matched *store.Version
	noop    bool // a conditional delete with no match, or a delete of nothing
	p       *Prepared
	written *store.Version
}

// Transaction processes a transaction all or nothing: every write is
// prepared first (ids assigned, urn: and conditional references resolved
// and rewritten, preconditions checked, each entry authorised), then stored
// in ONE store.Write, so a bad entry leaves nothing stored. Entries are
// prepared in the R4 order DELETE, POST, PUT/PATCH, each seeing the writes
// prepared before it (View). A write that loses a race with a concurrent
// writer is retried from the start until it wins or ctx ends. Errors about
// an entry are *EntryError.
func (s *Service) Transaction(ctx context.Context, entries []*Entry) ([]EntryResult, error) {
	retry := s.retrier(ctx)
	var tx []*txEntry
	for {
		var err error
		if tx, err = s.prepareTransaction(ctx, entries); err != nil {
			return nil, err
		}
		var changes []store.Change
		var owners []*txEntry
		var ps []*Prepared
		for _, e := range tx {
			if e.p != nil && e.p.Change != nil {
				for i, ch := range e.p.Changes() {
					changes = append(changes, ch)
					if i == 0 {
						owners = append(owners, e)
					} else {
						owners = append(owners, nil)
					}
				}
				ps = append(ps, e.p)
			}
		}
		if len(changes) == 0 {
			break
		}
		vs, werr := s.cfg.Store.Write(ctx, changes)
		if werr == nil {
			s.Committed(ps...)
			for i, o := range owners {
				if o != nil {
					v := vs[i]
					o.written = &v
				}
			}
			break
		}
		if outcome.KindOf(werr) != outcome.Conflict || !retry.wait() {
			return nil, werr
		}
		// A concurrent write: re-evaluate conditions and versions.
	}
	out := make([]EntryResult, len(tx))
	for i, e := range tx {
		switch {
		case e.Method == "GET" || e.Method == "HEAD":
		case e.matched != nil:
			out[i] = EntryResult{Outcome: Matched, Version: e.matched}
		case e.noop:
			out[i] = EntryResult{Outcome: NoOp}
		case e.p != nil:
			out[i] = EntryResult{Outcome: e.p.Outcome, Version: e.written}
		}
	}
	return out, nil
}

// txOrder is the R4 processing order of a transaction's methods.
var txOrder = map[string]int{"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}

// prepareTransaction does everything but the write.
func (s *Service) prepareTransaction(ctx context.Context, entries []*Entry) ([]*txEntry, error) {
	tx := make([]*txEntry, len(entries))
	for i, en := range entries {
		e := &txEntry{Entry: en}
		if en.Resource != nil && en.Method != "PATCH" {
			// Work on a copy: a retry must start from the client's content.
			e.res = deepCopy(en.Resource).(map[string]any)
		}
		if en.Method == "POST" {
			e.ID = ""
		}
		// The id is assigned per attempt.
		ec := *en
		e.Entry = &ec
		tx[i] = e
	}
	// Pass 1: decide every written resource's id, so that references to
	// fullUrls (urn:uuid:, urn:oid:, absolute) can be rewritten.
	ids := map[string]string{} // fullUrl -> Type/id
	seen := map[string]int{}
	for _, e := range tx {
		if err := s.assignID(ctx, e); err != nil {
			return nil, entryErr(e.Entry, err)
		}
		if e.Method == "GET" || e.Method == "HEAD" || e.ID == "" {
			continue
		}
		key := e.Type + "/" + e.ID
		if j, dup := seen[key]; dup && !e.noop {
			return nil, entryErr(e.Entry, outcome.Errorf(outcome.Invalid, "%s is also written by Bundle.entry[%d]; a transaction may change a resource only once", key, j))
		}
		seen[key] = e.Index
		if e.FullURL != "" {
			ids[e.FullURL] = key
		}
	}
	// Pass 2: rewrite references in every resource.
	for _, e := range tx {
		if e.res == nil {
			continue
		}
		if err := s.rewriteRefs(ctx, e.res, ids); err != nil {
			return nil, entryErr(e.Entry, err)
		}
	}
	// Pass 3: prepare the writes, in processing order and, within each
	// method, each entry after the entries it refers to, so domain rules
	// see what the transaction writes (View).
	pending := NewPending()
	view := pending.View(math.MaxInt)
	for pass := 0; pass <= 2; pass++ {
		var batch []*txEntry
		for _, e := range tx {
			if txOrder[e.Method] == pass && !e.noop && e.matched == nil {
				batch = append(batch, e)
			}
		}
		for _, e := range dependencyOrder(batch) {
			w := &Write{Method: e.Method, Type: e.Type, ID: e.ID, Resource: e.res, IfMatch: e.IfMatch}
			switch e.Method {
			case "DELETE":
				w.Interaction = "delete"
			case "POST":
				w.Interaction = "create"
				if e.IfNoneExist != "" {
					q, err := s.Condition(ctx, e.Type, e.IfNoneExist)
					if err != nil {
						return nil, entryErr(e.Entry, err)
					}
					w.IfNoneExist = q
				}
			case "PUT":
				w.Interaction, w.CreateOnMissing = "update", true
			case "PATCH":
				w.Interaction, w.Patch, w.Resource = "patch", e.Patch, nil
			}
			if err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: w.Interaction, Type: e.Type, ID: e.ID, Query: e.Query}); err != nil {
				return nil, entryErr(e.Entry, err)
			}
			p, err := s.Prepare(ctx, w, view)
			if err != nil {
				return nil, entryErr(e.Entry, err)
			}
			e.p = p
			pending.Add(pending.Len(), p.Change)
		}
	}
	return tx, nil
}

// Condition parses the query of a conditional interaction (If-None-Exist,
// a conditional URL or reference) on typ, and authorises the types it
// reaches through chains (AuthorizeReach).
func (s *Service) Condition(ctx context.Context, typ, raw string) (*store.Query, error) {
	// Some clients send a condition as a whole search URL ("Patient?identifier=…").
	if before, after, ok := strings.Cut(raw, "?"); ok && (before == "" || resource.ValidType(before)) {
		raw = after
	}
	if strings.TrimSpace(raw) == "" {
		return nil, outcome.Errorf(outcome.Invalid, "the condition is empty")
	}
	q, err := s.cfg.Registry.ParseCondition(ctx, typ, raw)
	if err != nil {
		return nil, err
	}
	if len(q.Types) == 0 {
		q.Types = []string{typ}
	}
	if err := s.AuthorizeReach(ctx, q); err != nil {
		return nil, err
	}
	return q, nil
}

// assignID fixes the id a write entry will have: a new uuid for a create
// (or the existing resource for a matched If-None-Exist), and the match of
// a conditional update, patch or delete.
func (s *Service) assignID(ctx context.Context, e *txEntry) error {
	switch e.Method {
	case "POST":
		if e.IfNoneExist != "" {
			q, err := s.Condition(ctx, e.Type, e.IfNoneExist)
			if err != nil {
				return err
			}
			v, err := s.ConditionalCreateMatch(ctx, q)
			if err != nil {
				return err
			}
			if v != nil {
				e.matched, e.ID = v, v.ID
				return nil
			}
		}
		e.ID = uuid.NewString()
	case "PUT", "PATCH", "DELETE":
		if e.Query == "" {
			return nil
		}
		q, err := s.Condition(ctx, e.Type, e.Query)
		if err != nil {
			return err
		}
		vs, err := s.MatchCondition(ctx, q, 2)
		if err != nil {
			return err
		}
		switch {
		case len(vs) > 1:
			return outcome.Errorf(outcome.PreconditionFailed, "the condition %s?%s matches more than one resource", e.Type, e.Query)
		case len(vs) == 1:
			e.ID = vs[0].ID
			if bid, _ := e.res["id"].(string); e.Method == "PUT" && bid != "" && bid != e.ID {
				return invalidAt("id", "the resource id %q does not match the resource %s/%s the condition matched", bid, e.Type, e.ID)
			}
			if e.Method == "PUT" {
				e.res["id"] = e.ID
			}
		case e.Method == "DELETE":
			e.noop = true
		case e.Method == "PATCH":
			return outcome.Errorf(outcome.NotFound, "no %s matches %s", e.Type, e.Query)
		default: // PUT with no match creates
			bid, _ := e.res["id"].(string)
			if bid == "" {
				bid = uuid.NewString()
			} else if !resource.ValidID(bid) {
				return invalidAt("id", "invalid resource id %q", bid)
			}
			e.ID = bid
			e.res["id"] = bid
		}
	}
	return nil
}

// rewriteRefs rewrites references to bundle fullUrls into the assigned
// Type/id, and resolves conditional references (Patient?identifier=…) to
// their one match.
func (s *Service) rewriteRefs(ctx context.Context, res map[string]any, ids map[string]string) error {
	var err error
	resource.WalkReferences(res, func(ref map[string]any) {
		if err != nil {
			return
		}
		r, ok := ref["reference"].(string)
		if !ok || r == "" || strings.HasPrefix(r, "#") {
			return
		}
		if to, ok := ids[r]; ok {
			ref["reference"] = to
			return
		}
		if strings.HasPrefix(r, "urn:uuid:") || strings.HasPrefix(r, "urn:oid:") {
			err = outcome.Errorf(outcome.Invalid, "reference %q names no entry of this bundle", r)
			return
		}
		if typ, query, ok := strings.Cut(r, "?"); ok && !strings.Contains(typ, "/") && !strings.Contains(typ, ":") {
			var q *store.Query
			if q, err = s.Condition(ctx, typ, query); err != nil {
				return
			}
			var vs []store.Version
			if vs, err = s.MatchCondition(ctx, q, 2); err != nil {
				return
			}
			if len(vs) != 1 {
				err = outcome.Errorf(outcome.PreconditionFailed, "the conditional reference %q matches %d resources; it must match exactly one", r, len(vs))
				return
			}
			ref["reference"] = typ + "/" + vs[0].ID
		}
	})
	return err
}

// dependencyOrder orders entries so that one referring to another entry of
// the list comes after it; references in a cycle keep the Bundle's order.
func dependencyOrder(entries []*txEntry) []*txEntry {
	if len(entries) < 2 {
		return entries
	}
	index := map[string]int{}
	for i, e := range entries {
		if e.ID != "" {
			index[e.Type+"/"+e.ID] = i
		}
	}
	deps := make([][]int, len(entries))
	for i, e := range entries {
		if e.res == nil {
			continue
		}
		resource.WalkReferences(e.res, func(ref map[string]any) {
			r := resource.ParseReference(ref["reference"].(string))
			if j, ok := index[r.Type+"/"+r.ID]; ok && r.IsLocal() && j != i {
				deps[i] = append(deps[i], j)
			}
		})
	}
	done := make([]bool, len(entries))
	out := make([]*txEntry, 0, len(entries))
	for len(out) < len(entries) {
		progress := false
		for i, e := range entries {
			if done[i] {
				continue
			}
			ready := true
			for _, j := range deps[i] {
				if !done[j] {
					ready = false
					break
				}
			}
			if ready {
				done[i], progress = true, true
				out = append(out, e)
			}
		}
		if !progress { // a cycle: take the first waiting entry as it stands
			for i, e := range entries {
				if !done[i] {
					done[i] = true
					out = append(out, e)
					break
				}
			}
		}
	}
	return out
}
