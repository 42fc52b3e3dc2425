// Package bulk loads large sets of resources into a store through the same
// rules as the REST API: the write interceptor (for ucp, the care-plan
// validation, lifecycle and consent rules) and the registry's index
// extraction. It exists because posting a register of 124,000 plans one
// request at a time costs one store transaction (and one fsync) per
// resource; an Importer instead writes thousands of resources per
// Store.Write.
//
// # NDJSON
//
// ImportNDJSON reads one resource per line. Each keeps its id and is
// written with PUT semantics (update as create): the first line with an id
// creates the resource, a later line with the same id becomes its next
// version, exactly as if it had been PUT.
//
// Lines are gathered into batches of Importer.Batch, each stored by one
// Store.Write. The rules read the store (the previous version, the plan's
// patient and sections, the patient's Consents), and they also see the
// batch's earlier lines, and the previous batch while it is being written,
// through a service.Pending view: a patient's whole story (patient, consent,
// sections, the plan that needs them) can share one batch, and a batch is
// prepared while the one before it is written. Lines whose rules read
// nothing but the line (see Independent) are prepared in parallel.
//
// Store.Write takes one version per resource, so a second version of a
// resource in the batch is deferred to the next batch, together with every
// later line that depends on a deferred one or that a deferred one depends
// on (a reference, or a Consent of a patient it refers to): each resource's
// versions and every dependency keep the file's order. A
// StructureDefinition is stored in a batch of its own, before the resources
// that claim it are validated; so is a SearchParameter, which is registered
// once stored (lines prepared before that are not indexed by it until
// reindexed, as through the API).
//
// A bad line (malformed JSON, no or wrong id, refused by the rules, failed
// extraction) is reported through Importer.Reject with its file and line
// and the reason, and the import goes on. When a batch's Store.Write fails
// as a whole, nothing of it is stored (the write is atomic) and its lines
// are prepared and written again one at a time, so one bad resource does
// not sink the rest of its batch; the next batch, prepared against the
// failed one, is prepared again.
//
// # Importing twice
//
// A re-import (by a new Importer: one Importer counts an id's lines across
// all the files it imports, as one run) is idempotent: a line whose content (ignoring meta.versionId
// and meta.lastUpdated) equals the stored version it would have produced
// the first time (the k-th line with an id is compared with version k) is
// counted as Unchanged and not written again. A line that differs becomes a
// new version, through the rules like any update.
//
// # Bundles
//
// ImportBundle writes a transaction or batch Bundle through the service's
// bundle processing, so bundles get exactly the API's transaction
// semantics.
package bulk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/store"
)

// DefaultBatch is the number of resources per Store.Write when
// Importer.Batch is zero: large enough that the per-transaction cost (an
// fsync with SQLite's synchronous=FULL) vanishes, small enough that a
// transaction stays a few megabytes.
const DefaultBatch = 2000

// maxLine bounds one NDJSON line; a care plan is a few kilobytes, so a
// larger line is almost certainly not NDJSON.
const maxLine = 64 << 20

// Importer loads resources into Store. Store and Registry are required.
type Importer struct {
	Store    store.Store
	Registry *search.Registry
	// Rules is the write interceptor the REST API applies (validation and
	// domain rules); nil applies none.
	Rules service.WriteInterceptor
	// Batch is the number of resources per store write; 0 means DefaultBatch.
	Batch int
	// Reject is told about every refused line; nil ignores them (they are
	// still counted).
	Reject func(Rejection)
	// Progress is called after every batch with the totals so far.
	Progress func(Stats)
	// Now is the clock for meta.lastUpdated; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	total Stats
	seen  map[string]int64 // "Type/id" -> lines with that id imported so far
	types map[string]bool  // the registry's types
	svc   *service.Service // the write pipeline, made from the fields above
}

// Rejection is one line (or bundle) that was not loaded.
type Rejection struct {
	File   string
	Line   int // 1-based; 0 for a whole bundle
	Type   string
	ID     string
	Status int    // the HTTP status the API would have answered (400, 404, 409, 422 …)
	Reason string // the message the API would have answered
}

func (r Rejection) String() string {
	what := ""
	if r.Type != "" {
		what = " " + r.Type + "/" + r.ID
	}
	if r.Line == 0 {
		return fmt.Sprintf("%s:%s: %d %s", r.File, what, r.Status, r.Reason)
	}
	return fmt.Sprintf("%s:%d:%s: %d %s", r.File, r.Line, what, r.Status, r.Reason)
}

// Stats counts what an import did.
type Stats struct {
	Files     int
	Lines     int   // resources read (NDJSON lines that were not blank; bundle entries)
	Bytes     int64 // input bytes consumed
	Written   int   // resource versions written from the input
	Created   int   // of Written, first versions
	Extra     int   // versions the rules added (Provenance, Composition)
	Unchanged int   // lines equal to what is already stored (re-import)
	Rejected  int
	Batches   int
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Files += o.Files
	s.Lines += o.Lines
	s.Bytes += o.Bytes
	s.Written += o.Written
	s.Created += o.Created
	s.Extra += o.Extra
	s.Unchanged += o.Unchanged
	s.Rejected += o.Rejected
	s.Batches += o.Batches
}

// Total returns the totals of every import this Importer has run.
func (im *Importer) Total() Stats {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.total
}

// line is one NDJSON line being imported.
type line struct {
	no      int
	raw     []byte
	typ     string
	id      string
	res     map[string]any
	rej     *Rejection // why parsing or preparing refused it
	deps    []string   // keys this line must follow (see ImportNDJSON)
	gives   []string   // keys later lines may depend on
	prep    []store.Change
	p       *service.Prepared // what prep came from
	first   bool              // the change creates the resource
	counted bool              // the line is counted in Importer.seen
	same    bool              // equal to the stored version: nothing to write
}

func (l *line) self() string { return l.typ + "/" + l.id }

// Independent is implemented by write rules that can tell when BeforeWrite
// reads nothing but the write itself: not the store, not the pending writes
// of an import batch (the View it is given). Such writes are prepared in
// parallel; the others one at a time in input order, each seeing exactly the
// lines before it. Rules that do not implement it are run one at a time.
type Independent interface {
	Independent(op *service.WriteOp) bool
}

// ImportNDJSON imports the resources of r, one per line; name is used in
// rejections. See the package comment for batching. The error is for what
// stops the import (a read error, a store failure that is not about one
// resource, ctx ending); rejected lines are counted in Stats and reported
// through Reject.
func (im *Importer) ImportNDJSON(ctx context.Context, r io.Reader, name string) (Stats, error) {
	if im.Store == nil || im.Registry == nil {
		return Stats{}, errors.New("bulk: Importer.Store and Registry are required")
	}
	batchSize := im.Batch
	if batchSize <= 0 {
		batchSize = DefaultBatch
	}
	if err := im.init(); err != nil {
		return Stats{}, err
	}
	st := Stats{Files: 1}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the reader when the import stops early
	src := newLineReader(ctx, r, name, im, &st)
	var (
		carry    []*line // deferred from the previous batch, in file order
		batch    []*line
		inBatch  = map[string]bool{} // the batch's resources ("Type/id")
		deferred []*line
		defGives = map[string]bool{} // keys given by deferred lines
		defDeps  = map[string]bool{} // keys deferred lines depend on
		pipe     = &pipeline{im: im, st: &st, name: name, pending: service.NewPending()}
	)
	// stop ends the import: the batch being written is waited for and
	// counted, whatever stopped it.
	stop := func(err error) (Stats, error) {
		if werr := pipe.wait(); err == nil {
			err = werr
		}
		return im.done(st), err
	}
	flush := func() error {
		if len(batch) > 0 {
			if err := pipe.run(ctx, batch); err != nil {
				return err
			}
		}
		batch = nil
		clear(inBatch)
		carry = append(deferred, carry...)
		deferred = nil
		clear(defGives)
		clear(defDeps)
		im.progress(st)
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return stop(err)
		}
		var l *line
		if len(carry) > 0 {
			l, carry = carry[0], carry[1:]
		} else {
			var err error
			if l, err = src.next(); err != nil {
				return stop(err)
			}
		}
		if l == nil {
			if len(batch) == 0 && len(deferred) == 0 {
				return stop(nil)
			}
			if err := flush(); err != nil {
				return stop(err)
			}
			continue
		}
		alone := l.typ == "StructureDefinition" || l.typ == "SearchParameter"
		if alone && len(batch) > 0 {
			// A profile must be stored before the resources that claim it
			// are validated, and validation runs before a batch is
			// written: a StructureDefinition ends the batch before it …
			// A SearchParameter is checked by registering it for a moment,
			// which must not overlap the extraction of lines prepared in
			// parallel with it: it too has a batch of its own.
			if err := flush(); err != nil {
				return stop(err)
			}
		}
		if inBatch[l.self()] || conflicts(l.deps, defGives) || conflicts(l.gives, defDeps) {
			// One store write takes one version per resource, so a second
			// version waits for the next batch; so does anything after it
			// that depends on a deferred line, or that a deferred line
			// depends on, which keeps each resource's versions and every
			// dependency in file order. (Two lines merely referring to the
			// same practitioner do not depend on each other.)
			deferred = append(deferred, l)
			for _, k := range l.deps {
				defDeps[k] = true
			}
			for _, k := range l.gives {
				defGives[k] = true
			}
			if len(deferred) >= batchSize {
				if err := flush(); err != nil {
					return stop(err)
				}
			}
			continue
		}
		batch = append(batch, l)
		inBatch[l.self()] = true
		if len(batch) >= batchSize || alone { // … and its own
			if err := flush(); err != nil {
				return stop(err)
			}
		}
	}
}

// lineReader reads NDJSON lines and parses them, in parallel and ahead of
// the batches being prepared, a chunk at a time; it hands them out in file
// order. Lines that fail to parse are rejected when their turn comes.
type lineReader struct {
	name  string
	im    *Importer
	st    *Stats
	ch    <-chan chunk
	done  bool
	ready []*line
}

// chunk is some consecutive lines of the file, parsed.
type chunk struct {
	lines []*line
	read  int   // lines read, blank ones included
	bytes int64 // bytes read
	err   error // a read error after the lines
}

// parseChunk is how many lines are parsed together.
const parseChunk = 512

// readAhead is how many parsed chunks may wait for the batches.
const readAhead = 4

func newLineReader(ctx context.Context, r io.Reader, name string, im *Importer, st *Stats) *lineReader {
	ch := make(chan chunk, readAhead)
	go func() {
		defer close(ch)
		br := bufio.NewReaderSize(r, 1<<20)
		no := 0
		for eof := false; !eof; {
			var c chunk
			for len(c.lines) < parseChunk && !eof {
				raw, err := readLine(br)
				if err == io.EOF {
					eof = true
					if len(raw) == 0 {
						break
					}
				} else if err != nil {
					c.err = fmt.Errorf("%s: line %d: %w", name, no+1, err)
					eof = true
					break
				}
				no++
				c.read++
				c.bytes += int64(len(raw)) + 1
				if raw = bytes.TrimSpace(raw); len(raw) > 0 {
					c.lines = append(c.lines, &line{no: no, raw: raw})
				}
			}
			parallel(len(c.lines), func(i int) { c.lines[i].rej = im.parse(c.lines[i]) })
			select {
			case ch <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	return &lineReader{name: name, im: im, st: st, ch: ch}
}

func (lr *lineReader) next() (*line, error) {
	for len(lr.ready) == 0 {
		if lr.done {
			return nil, nil
		}
		c, ok := <-lr.ch
		if !ok {
			lr.done = true
			return nil, nil
		}
		lr.st.Bytes += c.bytes
		lr.st.Lines += len(c.lines)
		for _, l := range c.lines {
			if l.rej != nil {
				lr.im.reject(lr.st, lr.name, l, l.rej)
				continue
			}
			lr.ready = append(lr.ready, l)
		}
		if c.err != nil {
			lr.done = true
			if len(lr.ready) == 0 {
				return nil, c.err
			}
			lr.ready = append(lr.ready, &line{rej: &Rejection{Reason: c.err.Error()}})
		}
	}
	l := lr.ready[0]
	lr.ready = lr.ready[1:]
	if l.rej != nil { // the read error, after the lines before it
		return nil, errors.New(l.rej.Reason)
	}
	return l, nil
}

// parallel runs f(0) … f(n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// pipeline prepares one batch while the previous one is being stored: the
// store's single writer and the preparation (validation, rules, index
// extraction) then use a core each. The batch being stored stays visible to
// the rules through pending until its write ends.
type pipeline struct {
	im      *Importer
	st      *Stats
	name    string
	pending *service.Pending
	// flying is the batch being written and done its result; nil when
	// nothing is being written.
	flying []*line
	done   chan error
}

// run prepares batch and starts writing it, once the batch before it is
// stored.
func (p *pipeline) run(ctx context.Context, batch []*line) error {
	p.pending.Reset()
	for _, l := range p.flying {
		for j := range l.prep {
			p.pending.Add(-1, &l.prep[j])
		}
	}
	p.prepare(ctx, batch)
	if err := p.waitFlying(ctx); err != nil {
		if err != errRedo {
			return err
		}
		// The batch before was refused as a whole and written line by
		// line: this one was prepared against what it meant to store.
		for _, l := range batch {
			if err := p.im.reset(l); err != nil {
				return fmt.Errorf("%s:%d: %w", p.name, l.no, err)
			}
		}
		p.pending.Reset()
		p.prepare(ctx, batch)
	}
	p.pending.Reset()
	var ready []*line
	for _, l := range batch {
		switch {
		case l.rej == nil:
			ready = append(ready, l)
		case l.same:
			p.st.Unchanged++
		case l.rej.Status >= 500:
			return fmt.Errorf("%s:%d: %s", p.name, l.no, l.rej.Reason)
		default:
			p.im.reject(p.st, p.name, l, l.rej)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	var changes []store.Change
	for _, l := range ready {
		changes = append(changes, l.prep...)
	}
	p.flying, p.done = ready, make(chan error, 1)
	go func(done chan<- error) {
		_, err := p.im.Store.Write(ctx, changes)
		done <- err
	}(p.done)
	return nil
}

// prepare prepares the lines of batch: independent ones in parallel, then
// the others in order, each seeing the lines before it.
func (p *pipeline) prepare(ctx context.Context, batch []*line) {
	indep, _ := p.im.Rules.(Independent)
	if p.im.Rules == nil {
		indep = allIndependent{}
	}
	isIndep := make([]bool, len(batch))
	for i, l := range batch {
		isIndep[i] = indep != nil && indep.Independent(&service.WriteOp{Interaction: "update", Type: l.typ, ID: l.id, Resource: l.res})
	}
	// The independent lines only look up their own previous version in the
	// view (a version of it in the batch being written).
	parallel(len(batch), func(i int) {
		if isIndep[i] {
			batch[i].rej = p.im.prepare(ctx, batch[i], p.pending.View(i))
		}
	})
	for i, l := range batch {
		if isIndep[i] && l.rej == nil {
			for j := range l.prep {
				p.pending.Add(i, &l.prep[j])
			}
		}
	}
	// The others in waves: a line joins the current wave unless it refers
	// to a line already in it, so that the lines of a wave, which see only
	// what precedes them, can be prepared in parallel (a batch's plans,
	// each about its own patient, are usually one wave).
	var wave []int
	inWave := map[string]bool{}
	runWave := func() {
		parallel(len(wave), func(k int) {
			i := wave[k]
			batch[i].rej = p.im.prepare(ctx, batch[i], p.pending.View(i))
		})
		for _, i := range wave {
			if l := batch[i]; l.rej == nil {
				for j := range l.prep {
					p.pending.Add(i, &l.prep[j])
				}
			}
		}
		wave = wave[:0]
		clear(inWave)
	}
	for i, l := range batch {
		if isIndep[i] {
			continue
		}
		if conflicts(l.deps, inWave) {
			runWave()
		}
		wave = append(wave, i)
		for _, k := range l.gives {
			inWave[k] = true
		}
	}
	runWave()
}

// errRedo says the batch being written was refused as a whole and has been
// written line by line instead.
var errRedo = errors.New("bulk: batch written line by line")

// waitFlying waits for the batch being written. When its write fails,
// nothing of it is stored (the write is atomic), and its lines are prepared
// and written again one at a time, in order, each against what the store
// then holds: one bad resource does not sink the rest of its batch, and a
// line that relied on a line now refused is judged without it.
func (p *pipeline) waitFlying(ctx context.Context) error {
	if p.flying == nil {
		return nil
	}
	batch := p.flying
	err := <-p.done
	p.flying, p.done = nil, nil
	p.st.Batches++
	defer release(batch)
	if err == nil {
		for _, l := range batch {
			p.im.svc.Committed(l.p)
			p.im.count(p.st, l)
		}
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, l := range batch {
		if err := p.im.reset(l); err != nil {
			return fmt.Errorf("%s:%d: %w", p.name, l.no, err)
		}
		if rej := p.im.prepare(ctx, l, service.View{}); rej != nil {
			switch {
			case l.same:
				p.st.Unchanged++
			case rej.Status >= 500:
				return fmt.Errorf("%s:%d: %s", p.name, l.no, rej.Reason)
			default:
				p.im.reject(p.st, p.name, l, rej)
			}
			continue
		}
		p.st.Batches++
		if _, err := p.im.Store.Write(ctx, l.prep); err != nil {
			if outcome.KindOf(err) == outcome.Internal {
				return fmt.Errorf("%s:%d: %w", p.name, l.no, err)
			}
			p.im.reject(p.st, p.name, l, rejection(err))
			continue
		}
		p.im.svc.Committed(l.p)
		p.im.count(p.st, l)
	}
	return errRedo
}

// wait waits for the last batch to be stored.
func (p *pipeline) wait() error {
	if err := p.waitFlying(context.Background()); err != nil && err != errRedo {
		return err
	}
	return nil
}

// release drops what a stored batch no longer needs.
func release(batch []*line) {
	for _, l := range batch {
		l.res, l.raw, l.prep, l.p = nil, nil, nil, nil
	}
}

// reset undoes a line's preparation so that it can be prepared again: the
// rules and SetMeta changed its tree, so it is parsed again from the line.
func (im *Importer) reset(l *line) error {
	im.forget(l)
	l.prep, l.p, l.same, l.rej = nil, nil, false, nil
	var err error
	l.res, err = resource.Parse(l.raw)
	return err
}

// allIndependent is the Independent of no rules at all.
type allIndependent struct{}

func (allIndependent) Independent(*service.WriteOp) bool { return true }

// done adds st to the Importer's totals and returns it.
func (im *Importer) done(st Stats) Stats {
	im.mu.Lock()
	im.total.Add(st)
	im.mu.Unlock()
	return st
}

// progress reports the totals including the import under way.
func (im *Importer) progress(st Stats) {
	if im.Progress == nil {
		return
	}
	t := im.Total()
	t.Add(st)
	im.Progress(t)
}

func conflicts(keys []string, set map[string]bool) bool {
	for _, k := range keys {
		if set[k] {
			return true
		}
	}
	return false
}

// readLine reads one line of any length up to maxLine, without its newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		frag, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			out = append(out, frag...)
			if len(out) > maxLine {
				return nil, fmt.Errorf("line longer than %d bytes", maxLine)
			}
			continue
		}
		out = append(out, frag...)
		if err != nil {
			return out, err
		}
		return out[:len(out)-1], nil
	}
}

// parse parses a line and works out its dependency keys. It returns a
// rejection for a line that cannot be a resource to PUT.
func (im *Importer) parse(l *line) *Rejection {
	res, err := resource.Parse(l.raw)
	if err != nil {
		return rejection(outcome.Errorf(outcome.Invalid, "not a JSON resource: %v", err))
	}
	l.res, l.typ, l.id = res, resource.Type(res), resource.ID(res)
	switch {
	case l.typ == "":
		return rejection(outcome.Errorf(outcome.Invalid, "no resourceType"))
	case !im.serves(l.typ):
		return rejection(outcome.Errorf(outcome.NotFound, "resource type %s is not served", l.typ))
	case l.id == "":
		return rejection(outcome.Errorf(outcome.Invalid, "no id: NDJSON resources keep their ids"))
	case !resource.ValidID(l.id):
		return rejection(outcome.Errorf(outcome.Invalid, "invalid id %q", l.id))
	}
	self := l.typ + "/" + l.id
	l.deps = append(l.deps, self)
	l.gives = append(l.gives, self)
	resource.WalkReferences(res, func(ref map[string]any) {
		s, _ := ref["reference"].(string)
		r := resource.ParseReference(s)
		if !r.IsLocal() || r.Type == "" || r.ID == "" {
			return
		}
		k := r.Type + "/" + r.ID
		l.deps = append(l.deps, k)
		if r.Type == "Patient" {
			// The consent rule searches a patient's Consents, which a
			// pending batch cannot answer: whatever refers to a patient
			// waits for that patient's pending Consents.
			l.deps = append(l.deps, "consent:"+k)
			if l.typ == "Consent" {
				l.gives = append(l.gives, "consent:"+k)
			}
		}
	})
	return nil
}

// prepare prepares a line as a PUT (update as create) through the
// service's write pipeline, seeing view's pending writes. A nil result
// means l.prep is ready; a rejection with Status 0 means the line equals
// what is stored (nothing to write).
func (im *Importer) prepare(ctx context.Context, l *line, view service.View) *Rejection {
	w := &service.Write{
		Interaction: "update", Method: http.MethodPut, Type: l.typ, ID: l.id, Resource: l.res, CreateOnMissing: true,
		// Asked once the current version is known: the line takes the next
		// of its id's numbers, and a re-import of what is stored is skipped.
		Unchanged: func(ctx context.Context, cur *store.Version) bool {
			key := l.typ + "/" + l.id
			im.mu.Lock()
			im.seen[key]++
			nth := im.seen[key]
			im.mu.Unlock()
			l.counted = true
			return cur != nil && nth <= cur.VersionID && im.unchanged(ctx, l, nth)
		},
	}
	p, err := im.svc.Prepare(ctx, w, view)
	if err != nil {
		return rejection(err)
	}
	if p.Outcome == service.Unchanged {
		l.same = true
		return &Rejection{}
	}
	l.p, l.prep = p, p.Changes()
	l.first = p.Outcome == service.Created
	return nil
}

// unchanged reports whether the stored version nth of the line's resource
// has the line's content, apart from the server's meta.
func (im *Importer) unchanged(ctx context.Context, l *line, nth int64) bool {
	v, err := im.Store.VRead(ctx, l.typ, l.id, nth)
	if err != nil || v.Deleted {
		return false
	}
	stored, err := resource.Parse(v.JSON)
	if err != nil {
		return false
	}
	return bytes.Equal(contentJSON(stored), contentJSON(l.res))
}

// contentJSON is a resource's canonical JSON without the meta the server
// sets (versionId, lastUpdated).
func contentJSON(res map[string]any) []byte {
	c := make(map[string]any, len(res))
	for k, v := range res {
		c[k] = v
	}
	if m, ok := res["meta"].(map[string]any); ok {
		mm := make(map[string]any, len(m))
		for k, v := range m {
			if k != "versionId" && k != "lastUpdated" {
				mm[k] = v
			}
		}
		if len(mm) == 0 {
			delete(c, "meta")
		} else {
			c["meta"] = mm
		}
	}
	return resource.Marshal(c)
}

func (im *Importer) count(st *Stats, l *line) {
	st.Written++
	if l.first {
		st.Created++
	}
	st.Extra += len(l.prep) - 1
}

func (im *Importer) reject(st *Stats, name string, l *line, r *Rejection) {
	st.Rejected++
	im.forget(l)
	if im.Reject != nil {
		r.File, r.Line, r.Type, r.ID = name, l.no, l.typ, l.id
		im.Reject(*r)
	}
}

// forget undoes the line's count of its id, so that a re-import compares
// the next line with the right version.
func (im *Importer) forget(l *line) {
	if !l.counted {
		return
	}
	l.counted = false
	im.mu.Lock()
	im.seen[l.typ+"/"+l.id]--
	im.mu.Unlock()
}

// init makes what every import of im shares, once: the write pipeline
// and the counts of the ids imported.
func (im *Importer) init() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.svc != nil {
		return nil
	}
	svc, err := service.New(service.Config{Store: im.Store, Registry: im.Registry, WriteInterceptor: im.Rules, Now: im.Now})
	if err != nil {
		return err
	}
	im.svc = svc
	im.seen = map[string]int64{}
	im.types = map[string]bool{}
	for _, t := range im.Registry.Types() {
		im.types[t] = true
	}
	return nil
}

// Service returns the import's write pipeline, for the records an import
// keeps of itself (its AuditEvents): they are written with the same rules
// and index extraction as what it imports, never around them.
func (im *Importer) Service() (*service.Service, error) {
	if err := im.init(); err != nil {
		return nil, err
	}
	return im.svc, nil
}

func (im *Importer) serves(typ string) bool {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.types[typ]
}

// rejection turns a rules, extraction or store error into the status and
// message the API would answer.
func rejection(err error) *Rejection {
	return &Rejection{Status: outcome.Status(err), Reason: err.Error()}
}

// ImportBundle writes one transaction or batch Bundle through the
// service's bundle processing (reference rewriting, conditional creates, a
// transaction's one atomic write), as the API would. A refused transaction
// is reported as one rejection with the API's message, a refused batch
// entry as a rejection of its own. An imported bundle only writes: a GET
// entry is refused.
func (im *Importer) ImportBundle(ctx context.Context, body []byte, name string) (Stats, error) {
	st := Stats{Files: 1, Bytes: int64(len(body)), Batches: 1}
	if err := im.init(); err != nil {
		return st, err
	}
	refuse := func(err error) (Stats, error) {
		st.Rejected = st.Lines
		if im.Reject != nil {
			r := rejection(err)
			r.File = name
			im.Reject(*r)
		}
		return im.done(st), nil
	}
	b, err := resource.Parse(body)
	if err != nil {
		return refuse(outcome.Errorf(outcome.Invalid, "not a JSON resource: %v", err))
	}
	raw, _ := b["entry"].([]any)
	st.Lines = len(raw)
	results, err := im.svc.Bundle(ctx, b)
	if outcome.KindOf(err) == outcome.Internal && err != nil {
		return im.done(st), fmt.Errorf("%s: %w", name, err)
	}
	if err != nil {
		return refuse(err)
	}
	for _, r := range results {
		if r.Err == nil {
			st.Written++
			if r.Outcome == service.Created {
				st.Created++
			}
			continue
		}
		st.Rejected++
		if im.Reject != nil {
			rj := rejection(r.Err)
			rj.File = name
			im.Reject(*rj)
		}
	}
	return im.done(st), nil
}
