package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/store"
)

// work runs queued jobs until Close.
func (m *Manager) work() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case j := <-m.queue:
			m.run(j)
		}
	}
}

// run runs one job and records its outcome.
func (m *Manager) run(j *job) {
	m.mu.Lock()
	if j.deleted {
		m.mu.Unlock()
		return
	}
	// The job reads as its principal, and nothing else of the kick-off
	// request (no break-glass, no disclosure record: its reads pass no
	// service.Call).
	ctx, cancel := context.WithCancel(auth.NewContext(m.ctx, j.principal))
	defer cancel()
	j.cancel = cancel
	j.Status = statusRunning
	m.mu.Unlock()
	if err := m.save(j); err != nil {
		m.log.Error("export: saving job state", "job", j.ID, "err", err)
	}

	err := m.export(ctx, j)

	m.mu.Lock()
	j.cancel = nil
	deleted := j.deleted
	j.Finished = m.cfg.Now().UTC()
	switch {
	case deleted:
	case err == nil:
		j.Status = statusComplete
	case m.ctx.Err() != nil:
		j.Status, j.Failure = statusFailed, "the export was interrupted by a server shutdown; start it again"
	default:
		j.Status, j.Failure = statusFailed, "the export failed while reading the store; start it again"
		if e := outcome.AsError(err); e != nil && e.Kind != outcome.Internal {
			j.Failure = "the export failed: " + e.Message
		}
	}
	m.mu.Unlock()
	if deleted {
		if err := m.st.Remove(m.ctx, j.ID); err != nil {
			m.log.Error("export: removing a deleted job", "job", j.ID, "err", err)
		}
		return
	}
	if err != nil {
		if m.ctx.Err() == nil {
			m.log.Error("export job failed", "job", j.ID, "err", err)
		}
		m.removeFiles(j)
	}
	if err := m.save(j); err != nil {
		m.log.Error("export: saving job state", "job", j.ID, "err", err)
	}
}

// removeFiles removes a failed job's partial files; its state stays, to
// answer its status until it expires.
func (m *Manager) removeFiles(j *job) {
	if err := m.st.RemoveFiles(m.ctx, j.ID); err != nil {
		m.log.Error("export: removing a failed job's files", "job", j.ID, "err", err)
	}
}

// export reads what j asks for into its files.
func (m *Manager) export(ctx context.Context, j *job) error {
	// Writes stamped before transactionTime may still be committing: wait
	// for them (see the package doc).
	if m.cfg.Settle > 0 {
		if wait := j.TransactionTime.Add(m.cfg.Settle).Sub(m.cfg.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
	x := &exporter{m: m, j: j, ctx: ctx, out: map[string]*output{}}
	defer x.closeAll()
	var err error
	x.base, err = m.baseWhere(j)
	if err != nil {
		return err
	}
	x.filters = map[string][][]store.Clause{}
	for typ, qs := range j.Filters {
		for _, q := range qs {
			parsed, err := m.cfg.Registry.ParseCondition(ctx, typ, q)
			if err != nil {
				return err
			}
			// Its chains and _has reach only what the job's principal may
			// see, as a search's do.
			if err := service.NarrowReach(ctx, m.cfg.Store, m.cfg.ReadInterceptor, nil, parsed.Where); err != nil {
				return err
			}
			x.filters[typ] = append(x.filters[typ], parsed.Where)
		}
	}
	switch j.Level {
	case levelSystem:
		err = x.system(ctx)
	default:
		err = x.patients(ctx)
	}
	if err != nil {
		return err
	}
	if err := x.finish(); err != nil {
		return err
	}
	m.mu.Lock()
	j.Output, j.Errors = x.files, x.errFiles
	m.mu.Unlock()
	return nil
}

// baseWhere is every query's time window: lastUpdated at or before
// transactionTime, and after _since. The conditions are built here rather
// than parsed from "le…" strings, because a parsed instant without a
// fraction would mean its whole second.
func (m *Manager) baseWhere(j *job) ([]store.Clause, error) {
	instant := func(p store.Prefix, t time.Time) store.Clause {
		t = t.UTC().Truncate(time.Microsecond)
		return store.Clause{Any: []store.Cond{{Param: "_lastUpdated", Type: store.Date, Prefix: p, Low: t, High: t.Add(time.Microsecond)}}}
	}
	where := []store.Clause{instant(store.Le, j.TransactionTime)}
	if !j.Since.IsZero() {
		where = append(where, instant(store.Gt, j.Since))
	}
	return where, nil
}

// exporter is one job's reading and writing.
type exporter struct {
	m       *Manager
	j       *job
	ctx     context.Context // the job's, for the storage
	base    []store.Clause
	filters map[string][][]store.Clause
	out     map[string]*output
	// files and errFiles are the finished files, in order.
	files    []file
	errFiles []file
}

// output is the open file of one type.
type output struct {
	typ   string
	n     int // files of the type so far
	f     FileWriter
	count int
}

// system exports each type by itself, so that its files are written one
// after another.
func (x *exporter) system(ctx context.Context) error {
	for _, typ := range x.j.Types {
		for i, where := range x.variants(typ) {
			q := store.Query{Types: []string{typ}, Where: where}
			err := x.scan(ctx, q, func(v *store.Version) error {
				if i > 0 {
					dup, err := x.matchesEarlier(ctx, v, i)
					if err != nil || dup {
						return err
					}
				}
				return x.emit(ctx, v)
			})
			if err != nil {
				return err
			}
		}
		if err := x.close(typ); err != nil {
			return err
		}
	}
	return nil
}

// variants are the Where lists that together select typ's resources: one
// per _typeFilter (ORed), or just the time window.
func (x *exporter) variants(typ string) [][]store.Clause {
	fs := x.filters[typ]
	if len(fs) == 0 {
		return [][]store.Clause{x.base}
	}
	out := make([][]store.Clause, len(fs))
	for i, f := range fs {
		out[i] = append(slices.Clip(x.base), f...)
	}
	return out
}

// matchesEarlier reports whether v matches one of its type's filters
// before the i-th, so was already exported by that one.
func (x *exporter) matchesEarlier(ctx context.Context, v *store.Version, i int) (bool, error) {
	for _, where := range x.variants(v.Type)[:i] {
		where = append(slices.Clip(where), store.Clause{Any: []store.Cond{{Param: "_id", Type: store.Token, Code: v.ID}}})
		res, err := x.m.cfg.Store.Search(ctx, store.Query{Types: []string{v.Type}, Where: where, Count: 1, Total: store.TotalNone})
		if err != nil {
			return false, err
		}
		if len(res.Versions) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// patients exports the compartments of the job's patients: each listed
// (Group members, patient parameters), or every Patient by id order. A
// resource in several exported compartments is written once, with the
// first of them in id order.
func (x *exporter) patients(ctx context.Context) error {
	if !x.j.AllPatients {
		member := map[string]bool{}
		for _, id := range x.j.Patients {
			member[id] = true
		}
		inSet := func(_ context.Context, id string) (bool, error) { return member[id], nil }
		for _, id := range x.j.Patients {
			v, err := x.m.cfg.Store.Read(ctx, "Patient", id)
			if k := outcome.KindOf(err); err != nil && (k == outcome.NotFound || k == outcome.Gone) {
				continue
			} else if err != nil {
				return err
			}
			if err := x.compartment(ctx, v, inSet); err != nil {
				return err
			}
		}
		return x.closeAll()
	}
	// Every Patient, by id, a page at a time. Whether another patient of
	// a shared resource is exported is asked of the store (rare: most
	// resources are in one compartment).
	inSet := func(ctx context.Context, id string) (bool, error) {
		v, err := x.m.cfg.Store.Read(ctx, "Patient", id)
		if k := outcome.KindOf(err); err != nil && (k == outcome.NotFound || k == outcome.Gone) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		return x.visible(ctx, v), nil
	}
	q := store.Query{Types: []string{"Patient"}, Sort: []store.SortKey{{Param: "_id", Type: store.Token}}}
	err := x.scan(ctx, q, func(v *store.Version) error { return x.compartment(ctx, v, inSet) })
	if err != nil {
		return err
	}
	return x.closeAll()
}

// compartment exports one Patient's compartment (the Patient included),
// unless the Patient is hidden from the caller: then all of it is.
func (x *exporter) compartment(ctx context.Context, pat *store.Version, inSet func(context.Context, string) (bool, error)) error {
	if !x.visible(ctx, pat) {
		return nil
	}
	var plain []string
	for _, typ := range x.j.Types {
		if len(x.filters[typ]) == 0 {
			plain = append(plain, typ)
		}
	}
	emit := func(i int) func(*store.Version) error {
		return func(v *store.Version) error {
			if first, err := x.firstCompartment(ctx, v, pat.ID, inSet); err != nil || !first {
				return err
			}
			if i > 0 {
				if dup, err := x.matchesEarlier(ctx, v, i); err != nil || dup {
					return err
				}
			}
			return x.emit(ctx, v)
		}
	}
	if len(plain) > 0 {
		if err := x.scan(ctx, store.Query{Types: plain, Patient: pat.ID, Where: x.base}, emit(0)); err != nil {
			return err
		}
	}
	for _, typ := range x.j.Types {
		if len(x.filters[typ]) == 0 {
			continue
		}
		for i, where := range x.variants(typ) {
			if err := x.scan(ctx, store.Query{Types: []string{typ}, Patient: pat.ID, Where: where}, emit(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstCompartment reports whether patient is the first (by id) exported
// patient in whose compartment v is. Only a resource whose JSON names
// another Patient can be in another compartment, so most resources need
// no parsing.
func (x *exporter) firstCompartment(ctx context.Context, v *store.Version, patient string, inSet func(context.Context, string) (bool, error)) (bool, error) {
	if !namesOtherPatient(v, patient) {
		return true, nil
	}
	res, err := resource.Parse(v.JSON)
	if err != nil {
		return false, outcome.Errorf(outcome.Internal, "%s/%s: %v", v.Type, v.ID, err)
	}
	ids, err := x.m.cfg.Registry.Patients(res)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		if id >= patient {
			break // sorted
		}
		in, err := inSet(ctx, id)
		if err != nil {
			return false, err
		}
		if in {
			return false, nil
		}
	}
	return true, nil
}

var patientRef = []byte(`Patient/`)

// namesOtherPatient reports whether v's JSON holds a "Patient/{id}" with an
// id other than patient (or is a Patient other than patient).
func namesOtherPatient(v *store.Version, patient string) bool {
	if v.Type == "Patient" && v.ID != patient {
		return true
	}
	b := v.JSON
	for {
		i := bytes.Index(b, patientRef)
		if i < 0 {
			return false
		}
		b = b[i+len(patientRef):]
		n := 0
		for n < len(b) && (b[n] >= 'A' && b[n] <= 'Z' || b[n] >= 'a' && b[n] <= 'z' || b[n] >= '0' && b[n] <= '9' || b[n] == '-' || b[n] == '.') {
			n++
		}
		if n > 0 && string(b[:n]) != patient {
			return true
		}
	}
}

// visible reports whether the caller may see v.
func (x *exporter) visible(ctx context.Context, v *store.Version) bool {
	rd := x.m.cfg.ReadInterceptor
	// No Call: see groupMembers.
	return rd == nil || rd.AllowRead(ctx, v, service.Disclose, nil) == nil
}

// scan pages through q by the store's cursor, calling each on every
// version.
func (x *exporter) scan(ctx context.Context, q store.Query, each func(*store.Version) error) error {
	q.Count, q.Total, q.Cursor = x.m.cfg.PageSize, store.TotalNone, ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := x.m.cfg.Store.Search(ctx, q)
		if err != nil {
			return err
		}
		for i := range res.Versions {
			if err := each(&res.Versions[i]); err != nil {
				return err
			}
		}
		if res.Next == "" || len(res.Versions) == 0 {
			return nil
		}
		q.Cursor = res.Next
	}
}

// emit writes v, as stored, to its type's file if the caller may see it.
func (x *exporter) emit(ctx context.Context, v *store.Version) error {
	if v.Deleted || len(v.JSON) == 0 || !x.visible(ctx, v) {
		return nil
	}
	o, err := x.output(v.Type)
	if err != nil {
		return err
	}
	line := v.JSON
	if bytes.IndexByte(line, '\n') >= 0 {
		// Stored JSON is compact; should one ever not be, a line is a line.
		var buf bytes.Buffer
		if err := json.Compact(&buf, line); err != nil {
			return outcome.Errorf(outcome.Internal, "%s/%s: %v", v.Type, v.ID, err)
		}
		line = buf.Bytes()
	}
	if _, err := o.f.Write(append(line, '\n')); err != nil {
		return err
	}
	o.count++
	x.j.written.Add(1)
	if o.count >= x.m.cfg.MaxFileResources {
		return x.close(v.Type)
	}
	return nil
}

// output returns typ's open file, opening the next one if needed.
func (x *exporter) output(typ string) (*output, error) {
	o := x.out[typ]
	if o == nil {
		o = &output{typ: typ}
		x.out[typ] = o
	}
	if o.f == nil {
		o.n++
		f, err := x.m.st.CreateFile(x.ctx, x.j.ID, fileName(typ, o.n))
		if err != nil {
			return nil, err
		}
		o.f, o.count = f, 0
	}
	return o, nil
}

// close finishes typ's open file, if any, and lists it.
func (x *exporter) close(typ string) error {
	o := x.out[typ]
	if o == nil || o.f == nil {
		return nil
	}
	err := o.f.Commit()
	o.f = nil
	if err != nil {
		return err
	}
	x.files = append(x.files, file{Type: typ, Name: fileName(typ, o.n), Count: o.count})
	return nil
}

// closeAll finishes every open file, in type order.
func (x *exporter) closeAll() error {
	var errs []error
	for _, typ := range slices.Sorted(maps.Keys(x.out)) {
		errs = append(errs, x.close(typ))
	}
	return errors.Join(errs...)
}

// finish writes the warnings, if any, as an OperationOutcome file.
func (x *exporter) finish() error {
	if len(x.j.Warnings) == 0 {
		return nil
	}
	var issues []outcome.Issue
	for _, w := range x.j.Warnings {
		issues = append(issues, outcome.Issue{Severity: "warning", Code: "not-supported", Diagnostics: w})
	}
	oo := outcome.New(issues...).JSON()
	name := fileName("OperationOutcome", 1)
	f, err := x.m.st.CreateFile(x.ctx, x.j.ID, name)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(oo, '\n')); err != nil {
		return errors.Join(err, f.Abort())
	}
	if err := f.Commit(); err != nil {
		return err
	}
	x.errFiles = append(x.errFiles, file{Type: "OperationOutcome", Name: name, Count: 1})
	return nil
}

func fileName(typ string, n int) string { return typ + "-" + strconv.Itoa(n) + ".ndjson" }
