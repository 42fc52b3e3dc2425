package service

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/google/uuid"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/store"
)

// Write is one write interaction, from a single request, a bundle entry or
// an import line.
type Write struct {
	Interaction string // create, update, patch, delete
	Method      string // POST, PUT, PATCH, DELETE: recorded with the version
	Type, ID    string
	Resource    map[string]any // the new content (create, update)
	// Patch computes the new content from the current version (patch).
	Patch func(cur *store.Version) (map[string]any, error)
	// IfMatch is the If-Match version; 0 when absent.
	IfMatch int64
	// IfNoneExist is the conditional-create query (If-None-Exist), parsed.
	IfNoneExist *store.Query
	// CreateOnMissing: an update of a missing resource creates it (PUT).
	CreateOnMissing bool
	// MustNotExist: a create with a client id that must be new (409 if not).
	MustNotExist bool
	// Unchanged, when set, is asked with the current version (nil when
	// none) once it is read, before the rules run; true means the write
	// would store what is there already, and nothing is written (Outcome
	// Unchanged). A re-import uses it.
	Unchanged func(ctx context.Context, cur *store.Version) bool
}

// Outcome is what a write did.
type Outcome int

const (
	Created   Outcome = iota + 1 // a new resource (or a new life of a deleted one)
	Updated                      // a new version of a current resource
	Deleted                      // a deletion version was written
	Matched                      // a conditional create matched: nothing written
	NoOp                         // a delete of nothing: nothing written
	Unchanged                    // Write.Unchanged said so: nothing written
)

// Prepared is a prepared write: the changes to store, or (Change nil) an
// answer that needs no write.
type Prepared struct {
	Outcome Outcome
	// Change is the resource's new version; nil when nothing is written.
	Change *store.Change
	// Extra are the versions the rules added (Provenance, AuditEvent …).
	Extra []store.Change
	// sps are the registry changes of the SearchParameters written (the
	// resource, or one a rule added), applied once the write is stored
	// (see Committed).
	sps []*spChange
}

// Changes returns the changes to store: the resource's, then the extra ones.
func (p *Prepared) Changes() []store.Change {
	if p == nil || p.Change == nil {
		return nil
	}
	return append([]store.Change{*p.Change}, p.Extra...)
}

// Result is a completed write.
type Result struct {
	Outcome Outcome
	// Version is the written (or matched) version; nil for a NoOp delete.
	Version *store.Version
}

// NextVersion is THE version-numbering rule: a write stores the current
// version + 1; a resource deleted and written again continues after its
// deletion version; a new resource starts at 1. cur is the current version
// (nil when none) and deleted the deletion version (0 when none).
func NextVersion(cur *store.Version, deleted int64) int64 {
	if cur != nil {
		return cur.VersionID + 1
	}
	return deleted + 1
}

// current reads the current version of typ/id: the latest pending one view
// shows, else the store's. deleted is the deletion version of a deleted
// resource.
func (s *Service) current(ctx context.Context, view View, typ, id string) (cur *store.Version, deleted int64, err error) {
	if v, ok := view.Version(typ, id); ok {
		return v, 0, nil
	}
	v, err := s.cfg.Store.Read(ctx, typ, id)
	switch outcome.KindOf(err) {
	case outcome.Internal:
		if err != nil {
			return nil, 0, err
		}
		return v, 0, nil
	case outcome.Gone:
		if e := store.AsError(err); e != nil && e.Version != nil {
			return nil, e.Version.VersionID, nil
		}
		return nil, 0, err
	case outcome.NotFound:
		return nil, 0, nil
	}
	return nil, 0, err
}

// Prepare is the one function that prepares every write: it reads the
// current version (the pending one view shows first), checks If-Match,
// numbers the new version, runs the write interceptor, sets meta, extracts
// index entries and stages a SearchParameter's registration, for the
// resource and for every resource the interceptor adds. It writes nothing.
func (s *Service) Prepare(ctx context.Context, w *Write, view View) (*Prepared, error) {
	p := &Prepared{}
	var cur *store.Version
	var deleted int64
	if w.Interaction != "create" {
		var err error
		if cur, deleted, err = s.current(ctx, view, w.Type, w.ID); err != nil {
			return nil, err
		}
		if w.IfMatch != 0 && (cur == nil || cur.VersionID != w.IfMatch) {
			have := "no current version"
			if cur != nil {
				have = fmt.Sprintf("current version %d", cur.VersionID)
			}
			return nil, outcome.Errorf(outcome.PreconditionFailed, "If-Match version %d does not match the %s of %s/%s", w.IfMatch, have, w.Type, w.ID)
		}
		if cur == nil {
			switch w.Interaction {
			case "delete":
				p.Outcome = NoOp // idempotent: nothing to delete
				return p, nil
			case "patch":
				if deleted != 0 {
					return nil, outcome.Errorf(outcome.Gone, "%s/%s has been deleted", w.Type, w.ID)
				}
				return nil, outcome.Errorf(outcome.NotFound, "%s/%s is not known", w.Type, w.ID)
			case "update":
				if !w.CreateOnMissing {
					return nil, outcome.Errorf(outcome.NotFound, "%s/%s is not known", w.Type, w.ID)
				}
			}
		}
		if w.Unchanged != nil && w.Unchanged(ctx, cur) {
			p.Outcome = Unchanged
			return p, nil
		}
	}
	if w.Interaction == "create" && w.ID == "" {
		w.ID = uuid.NewString()
	}
	res := w.Resource
	if w.Patch != nil {
		var err error
		if res, err = w.Patch(cur); err != nil {
			return nil, err
		}
	}
	ch := &store.Change{
		Type: w.Type, ID: w.ID, VersionID: NextVersion(cur, deleted), PrevVersion: deleted,
		LastUpdated: s.now(), Method: w.Method,
	}
	if cur != nil {
		ch.PrevVersion = cur.VersionID
	}
	if w.Interaction == "create" {
		ch.VersionID, ch.PrevVersion = 1, 0
		ch.IfNoneMatch = w.IfNoneExist
	}
	op := &WriteOp{Interaction: w.Interaction, Type: w.Type, ID: w.ID, Resource: res, Previous: cur, Version: ch.VersionID, Call: s.call}
	if err := s.cfg.WriteInterceptor.BeforeWrite(ctx, op, view); err != nil {
		return nil, err
	}
	res = op.Resource
	for _, x := range op.Extra {
		xc, err := s.prepareExtra(x, ch.LastUpdated)
		if err != nil {
			return nil, err
		}
		if xc.Type == "SearchParameter" {
			sp, err := s.stageSearchParameter(x, nil)
			if err != nil {
				return nil, err
			}
			p.sps = append(p.sps, sp)
		}
		p.Extra = append(p.Extra, xc)
	}
	if w.Type == "SearchParameter" {
		// Checked against the registry before anything is stored, so a
		// definition it refuses is never written.
		var spRes map[string]any
		if w.Interaction != "delete" {
			spRes = res
		}
		sp, err := s.stageSearchParameter(spRes, cur)
		if err != nil {
			return nil, err
		}
		p.sps = append(p.sps, sp)
	}
	if w.Interaction == "delete" {
		ch.Deleted = true
		p.Outcome = Deleted
	} else {
		if res == nil {
			return nil, outcome.Errorf(outcome.Invalid, "no resource to write")
		}
		if err := checkType(res, w.Type); err != nil {
			return nil, err
		}
		resource.SetMeta(res, w.ID, ch.VersionID, ch.LastUpdated)
		entries, patients, err := s.cfg.Registry.Extract(res)
		if err != nil {
			return nil, err
		}
		ch.JSON = resource.Marshal(res)
		ch.Entries, ch.Patients = entries, patients
		p.Outcome = Updated
		if cur == nil {
			p.Outcome = Created
		}
	}
	p.Change = ch
	return p, nil
}

// prepareExtra prepares a resource a write interceptor added: created in
// the same write, at the same time, as version 1.
func (s *Service) prepareExtra(res map[string]any, at time.Time) (store.Change, error) {
	typ, id := resource.Type(res), resource.ID(res)
	if typ == "" {
		return store.Change{}, fmt.Errorf("service: a write rule added a resource without a resourceType")
	}
	if id == "" {
		id = uuid.NewString()
	}
	resource.SetMeta(res, id, 1, at)
	entries, patients, err := s.cfg.Registry.Extract(res)
	if err != nil {
		return store.Change{}, err
	}
	return store.Change{Type: typ, ID: id, VersionID: 1, PrevVersion: 0, LastUpdated: at, Method: http.MethodPost,
		JSON: resource.Marshal(res), Entries: entries, Patients: patients}, nil
}

func checkType(res map[string]any, want string) error {
	rt, ok := res["resourceType"].(string)
	switch {
	case !ok || rt == "":
		e := outcome.Errorf(outcome.Invalid, "the resource has no resourceType")
		e.Expr = []string{"resourceType"}
		return e
	case want != "" && rt != want:
		e := outcome.Errorf(outcome.Invalid, "resourceType %q does not match the type %q in the URL", rt, want)
		e.Expr = []string{"resourceType"}
		return e
	}
	return nil
}

// Committed applies the registry changes of prepared writes that have been
// stored (by Store.Write of their Changes), and drops what the interaction
// remembered (Call.Remember). Write and Transaction call it
// themselves; a caller that stores prepared writes on its own (a bulk
// import) calls it after its write succeeded.
func (s *Service) Committed(ps ...*Prepared) {
	// What the interaction remembered (a patient's consent) may be what it
	// just wrote.
	s.call.forget()
	changed := false
	for _, p := range ps {
		if p == nil || p.Change == nil {
			continue
		}
		for _, sp := range p.sps {
			s.commitSearchParameter(sp)
			changed = true
		}
	}
	if changed {
		s.cfg.OnSearchParameters()
	}
}

// Write prepares and stores one write, retrying when a concurrent writer
// bumped the version between our read and our write, until it wins or ctx
// ends (within Config.RetryTimeout when ctx has no deadline), unless the
// client pinned the version with If-Match (then the conflict is its 412). A
// conditional create that loses the race to an identical one answers
// Matched with the winner, which the store reports as the Conflict's
// Matches.
func (s *Service) Write(ctx context.Context, w *Write) (*Result, error) {
	retry := s.retrier(ctx)
	for {
		if w.Interaction == "create" && w.IfNoneExist != nil {
			v, err := s.ConditionalCreateMatch(ctx, w.IfNoneExist)
			if err != nil {
				return nil, err
			}
			if v != nil {
				return &Result{Outcome: Matched, Version: v}, nil
			}
		}
		wc := *w
		p, err := s.Prepare(ctx, &wc, View{})
		if err != nil {
			return nil, err
		}
		if p.Change == nil {
			return &Result{Outcome: p.Outcome}, nil
		}
		vs, err := s.cfg.Store.Write(ctx, p.Changes())
		if err == nil {
			s.Committed(p)
			v := vs[0]
			return &Result{Outcome: p.Outcome, Version: &v}, nil
		}
		e := store.AsError(err)
		if e == nil || e.Kind != store.Conflict {
			return nil, err
		}
		if len(e.Matches) > 0 {
			return s.matched(ctx, e.Matches)
		}
		if w.MustNotExist {
			return nil, outcome.Errorf(outcome.Conflict, "%s/%s already exists and does not match the condition", w.Type, w.ID)
		}
		if w.IfMatch != 0 {
			return nil, outcome.Errorf(outcome.PreconditionFailed, "%s/%s was changed concurrently; If-Match version %d is no longer current", w.Type, w.ID, w.IfMatch)
		}
		if !retry.wait() {
			return nil, err
		}
	}
}

// retrier paces the retries of a write that lost a race to a concurrent
// writer: it retries until the write wins, ctx ends, or (when ctx has no
// deadline) Config.RetryTimeout has passed since the first lost race. It
// costs nothing until a race is lost.
type retrier struct {
	ctx     context.Context
	timeout time.Duration
	giveUp  time.Time
	attempt int
}

func (s *Service) retrier(ctx context.Context) retrier {
	return retrier{ctx: ctx, timeout: s.cfg.RetryTimeout}
}

// wait waits a little, randomly and more with each attempt, before a
// retry, so writers racing for one resource spread out instead of
// colliding again. It reports false when the write should give up with the
// conflict it last had.
func (r *retrier) wait() bool {
	r.attempt++
	if r.ctx.Err() != nil {
		return false // the request has ended: no one is waiting for the retry
	}
	if r.giveUp.IsZero() {
		if d, ok := r.ctx.Deadline(); ok {
			r.giveUp = d
		} else {
			r.giveUp = time.Now().Add(r.timeout)
		}
	}
	if !time.Now().Before(r.giveUp) {
		return false
	}
	d := time.Duration(rand.Int64N(int64(min(r.attempt, 50))*int64(time.Millisecond) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// matched answers a conditional create whose condition matches: one match
// is returned with nothing written; several are 412.
func (s *Service) matched(ctx context.Context, refs []store.Ref) (*Result, error) {
	if len(refs) > 1 {
		return nil, outcome.Errorf(outcome.PreconditionFailed, "the If-None-Exist condition matches %d resources", len(refs))
	}
	v, err := s.cfg.Store.Read(ctx, refs[0].Type, refs[0].ID)
	if err != nil {
		return nil, err
	}
	return &Result{Outcome: Matched, Version: v}, nil
}

// ConditionalCreateMatch evaluates If-None-Exist before preparing a create:
// a single current match is returned, several are 412, none nil.
func (s *Service) ConditionalCreateMatch(ctx context.Context, q *store.Query) (*store.Version, error) {
	refs, err := s.MatchCondition(ctx, q, 2)
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	if len(refs) > 1 {
		return nil, outcome.Errorf(outcome.PreconditionFailed, "the If-None-Exist condition matches more than one resource")
	}
	return &refs[0], nil
}

// MatchCondition returns up to limit current versions matching q.
func (s *Service) MatchCondition(ctx context.Context, q *store.Query, limit int) ([]store.Version, error) {
	qq := *q
	qq.Count = limit
	qq.Total = store.TotalNone
	qq.Cursor = ""
	r, err := s.cfg.Store.Search(ctx, qq)
	if err != nil {
		return nil, err
	}
	return r.Versions, nil
}
