package rest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ucp/fhir/resource"
	"ucp/store"
)

// writeReq is one write interaction, from a single request or a bundle entry.
type writeReq struct {
	interaction string // create, update, patch, delete
	method      string // POST, PUT, PATCH, DELETE
	typ, id     string
	res         map[string]any // the new content (create, update)
	// patch computes the new content from the current version (patch).
	patch func(cur *store.Version) (map[string]any, error)
	// ifMatch is the If-Match version; 0 when absent.
	ifMatch int64
	// ifNoneExist is the conditional-create query (If-None-Exist), parsed.
	ifNoneExist *store.Query
	// createOnMissing: an update of a missing resource creates it (PUT).
	createOnMissing bool
	// mustNotExist: a create with a client id that must be new (409 if not).
	mustNotExist bool
}

// pending is a prepared write: the changes to store, or (existing set and no
// changes) an answer that needs no write.
type pending struct {
	req      *writeReq
	change   *store.Change // nil when nothing is written
	extra    []store.Change
	status   int            // 201 created, 200 updated or matched, 204 deleted or nothing to delete
	existing *store.Version // the current version when nothing is written (conditional-create match)
	// sp is the registry change of a SearchParameter write, applied once
	// the write is stored (see committed).
	sp *spChange
}

// maxWriteAttempts bounds the retries of a write that lost a race.
const maxWriteAttempts = 16

// backoff sleeps a little, randomly, before retry attempt+1, so writers
// racing for one resource spread out instead of colliding again. It returns
// ctx's error, at once, if the request ends first: no retry for a client
// that has gone.
func backoff(ctx context.Context, attempt int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(time.Duration(rand.Int64N(int64(attempt)*int64(time.Millisecond) + 1)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// prepare turns a writeReq into a pending write: it reads the current
// version, checks If-Match, numbers the new version, applies the write
// interceptor, sets meta and extracts index entries. It writes nothing.
func (s *Server) prepare(ctx context.Context, w *writeReq) (*pending, error) {
	p := &pending{req: w}
	var cur *store.Version
	var prev int64
	if w.interaction != "create" {
		v, err := s.cfg.Store.Read(ctx, w.typ, w.id)
		switch store.KindOf(err) {
		case store.Internal:
			if err != nil {
				return nil, err
			}
			cur, prev = v, v.VersionID
		case store.Gone:
			if e := store.AsError(err); e.Version != nil {
				prev = e.Version.VersionID
			} else {
				return nil, err
			}
		case store.NotFound:
		default:
			return nil, err
		}
		if w.ifMatch != 0 && (cur == nil || cur.VersionID != w.ifMatch) {
			have := "no current version"
			if cur != nil {
				have = fmt.Sprintf("current version %d", cur.VersionID)
			}
			return nil, precondition("If-Match version %d does not match the %s of %s/%s", w.ifMatch, have, w.typ, w.id)
		}
		if cur == nil {
			switch w.interaction {
			case "delete":
				p.status = http.StatusNoContent // idempotent: nothing to delete
				return p, nil
			case "patch":
				if prev != 0 {
					return nil, store.Errorf(store.Gone, "%s/%s has been deleted", w.typ, w.id)
				}
				return nil, store.Errorf(store.NotFound, "%s/%s is not known", w.typ, w.id)
			case "update":
				if !w.createOnMissing {
					return nil, store.Errorf(store.NotFound, "%s/%s is not known", w.typ, w.id)
				}
			}
		}
	}
	if w.interaction == "create" && w.id == "" {
		w.id = uuid.NewString()
	}
	res := w.res
	if w.patch != nil {
		var err error
		if res, err = w.patch(cur); err != nil {
			return nil, err
		}
	}
	op := &WriteOp{Interaction: w.interaction, Type: w.typ, ID: w.id, Resource: res, Previous: cur}
	if err := s.cfg.WriteInterceptor.BeforeWrite(ctx, op); err != nil {
		return nil, err
	}
	res = op.Resource
	p.extra = op.Extra
	ch := &store.Change{
		Type: w.typ, ID: w.id, VersionID: prev + 1, PrevVersion: prev,
		LastUpdated: s.now(), Method: w.method,
	}
	if w.interaction == "create" {
		ch.VersionID, ch.PrevVersion = 1, 0
		ch.IfNoneMatch = w.ifNoneExist
	}
	if w.typ == "SearchParameter" {
		// Checked against the registry before anything is stored, so a
		// definition it refuses is never written.
		var spRes map[string]any
		if w.interaction != "delete" {
			spRes = res
		}
		sp, err := s.stageSearchParameter(spRes, cur)
		if err != nil {
			return nil, err
		}
		p.sp = sp
	}
	if w.interaction == "delete" {
		ch.Deleted = true
		p.status = http.StatusNoContent
	} else {
		if res == nil {
			return nil, invalid("no resource to write")
		}
		if err := checkType(res, w.typ); err != nil {
			return nil, err
		}
		resource.SetMeta(res, w.id, ch.VersionID, ch.LastUpdated)
		entries, patients, err := s.cfg.Registry.Extract(res)
		if err != nil {
			return nil, err
		}
		ch.JSON = resource.Marshal(res)
		ch.Entries, ch.Patients = entries, patients
		p.status = http.StatusOK
		if cur == nil {
			p.status = http.StatusCreated
		}
	}
	p.change = ch
	return p, nil
}

// now is the server clock at microsecond precision, the precision every
// store keeps, so meta.lastUpdated in the JSON equals Version.LastUpdated.
func (s *Server) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// result is a completed single write.
type result struct {
	status  int
	version *store.Version // the written (or matched) version; nil for a no-op delete
	matched bool           // a conditional create matched: nothing was written
}

// write prepares and stores one write, retrying when a concurrent writer
// bumped the version between our read and our write, unless the client
// pinned the version with If-Match (then the conflict is its 412). A
// conditional create that loses the race to an identical one answers 200
// with the winner, which the store reports as the Conflict's Matches.
func (s *Server) write(ctx context.Context, w *writeReq) (*result, error) {
	for attempt := 1; ; attempt++ {
		if w.interaction == "create" && w.ifNoneExist != nil {
			v, err := s.conditionalCreateMatch(ctx, w.ifNoneExist)
			if err != nil {
				return nil, err
			}
			if v != nil {
				return &result{status: http.StatusOK, version: v, matched: true}, nil
			}
		}
		wc := *w
		p, err := s.prepare(ctx, &wc)
		if err != nil {
			return nil, err
		}
		if p.change == nil {
			return &result{status: p.status, version: p.existing}, nil
		}
		changes := append([]store.Change{*p.change}, p.extra...)
		vs, err := s.cfg.Store.Write(ctx, changes)
		if err == nil {
			s.committed(p)
			v := vs[0]
			return &result{status: p.status, version: &v}, nil
		}
		e := store.AsError(err)
		if e == nil || e.Kind != store.Conflict {
			return nil, err
		}
		if len(e.Matches) > 0 {
			return s.matched(ctx, e.Matches)
		}
		if w.mustNotExist {
			return nil, store.Errorf(store.Conflict, "%s/%s already exists and does not match the condition", w.typ, w.id)
		}
		if w.ifMatch != 0 {
			return nil, precondition("%s/%s was changed concurrently; If-Match version %d is no longer current", w.typ, w.id, w.ifMatch)
		}
		if attempt >= maxWriteAttempts {
			return nil, err
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// matched answers a conditional create whose condition matches: one match
// is returned with 200 and nothing is written; several are 412.
func (s *Server) matched(ctx context.Context, refs []store.Ref) (*result, error) {
	if len(refs) > 1 {
		return nil, precondition("the If-None-Exist condition matches %d resources", len(refs))
	}
	v, err := s.cfg.Store.Read(ctx, refs[0].Type, refs[0].ID)
	if err != nil {
		return nil, err
	}
	return &result{status: http.StatusOK, version: v, matched: true}, nil
}

// conditionalCreateMatch evaluates If-None-Exist before preparing a create:
// a single current match answers 200 with it, several 412, none nil.
func (s *Server) conditionalCreateMatch(ctx context.Context, q *store.Query) (*store.Version, error) {
	refs, err := s.matchCondition(ctx, q, 2)
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	if len(refs) > 1 {
		return nil, precondition("the If-None-Exist condition matches more than one resource")
	}
	return &refs[0], nil
}

// matchCondition returns up to limit current versions matching q.
func (s *Server) matchCondition(ctx context.Context, q *store.Query, limit int) ([]store.Version, error) {
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

// parseCondition parses a conditional interaction's query.
func (s *Server) parseCondition(ctx context.Context, typ, raw string) (*store.Query, error) {
	// Some clients send If-None-Exist as a whole search URL ("Patient?identifier=…").
	if before, after, ok := strings.Cut(raw, "?"); ok && (before == "" || resource.ValidType(before)) {
		raw = after
	}
	if strings.TrimSpace(raw) == "" {
		return nil, invalid("the condition is empty")
	}
	q, err := s.cfg.Registry.ParseCondition(ctx, typ, raw)
	if err != nil {
		return nil, err
	}
	if len(q.Types) == 0 {
		q.Types = []string{typ}
	}
	if err := s.authorizeReach(ctx, q); err != nil {
		return nil, err
	}
	return q, nil
}

// parseETag reads a version from an ETag value: W/"3", "3" or 3.
func parseETag(v string) (int64, error) {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, invalid("malformed ETag %q: expected W/\"<version>\"", v)
	}
	return n, nil
}

func etag(v int64) string { return `W/"` + strconv.FormatInt(v, 10) + `"` }

// prefer is the parsed Prefer header (R4 http.html#ops).
type prefer struct {
	ret      string // minimal, representation, OperationOutcome
	handling string // strict, lenient
}

func parsePrefer(h []string) prefer {
	var p prefer
	for _, line := range h {
		for _, part := range strings.Split(line, ",") {
			for _, kv := range strings.Split(part, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
				v = strings.Trim(strings.TrimSpace(v), `"`)
				switch strings.ToLower(strings.TrimSpace(k)) {
				case "return":
					p.ret = v
				case "handling":
					p.handling = strings.ToLower(v)
				}
			}
		}
	}
	return p
}
