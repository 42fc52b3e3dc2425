package service

import (
	"ucp/store"
)

// Pending is a set of writes that are prepared but not yet stored: the
// entries of a transaction Bundle, or a batch of a bulk import. Domain rules
// (a WriteInterceptor) see them through the View they are given, because
// what they check usually arrives together: a care plan with its consent
// and sections in one Bundle, a patient's whole record in one import batch.
//
// Each write has a position, and a rule preparing the write at position p
// sees only the writes before p (Pending.View). That lets a bulk importer
// prepare the writes that need no view in parallel and out of order, and
// still show each write that does exactly what preceded it in its input.
//
// A Pending may hold several versions of a resource at different positions
// (an importer keeps the batch being stored visible while it prepares the
// next); a rule sees the latest before its position. It is not safe for
// concurrent Add; reads through a View may run concurrently with each
// other.
type Pending struct {
	versions  map[string][]*pendingVersion // "Type/id" -> its pending versions
	order     []*pendingVersion            // in Add order
	byPatient map[string][]*pendingVersion // "Type|patient id" -> versions in that patient's compartment
}

type pendingVersion struct {
	pos int
	v   *store.Version
}

// NewPending returns an empty Pending.
func NewPending() *Pending {
	return &Pending{versions: map[string][]*pendingVersion{}, byPatient: map[string][]*pendingVersion{}}
}

// Add records the write ch at position pos. Deletions are not recorded: a
// rule asking for a pending version of a deleted resource falls back to the
// store, which still has it until the write.
func (p *Pending) Add(pos int, ch *store.Change) {
	if ch == nil || ch.Deleted {
		return
	}
	pv := &pendingVersion{pos: pos, v: &store.Version{Type: ch.Type, ID: ch.ID, VersionID: ch.VersionID, LastUpdated: ch.LastUpdated, Method: ch.Method, JSON: ch.JSON}}
	k := ch.Type + "/" + ch.ID
	p.versions[k] = append(p.versions[k], pv)
	p.order = append(p.order, pv)
	for _, pt := range ch.Patients {
		k := ch.Type + "|" + pt
		p.byPatient[k] = append(p.byPatient[k], pv)
	}
}

// Len is the number of writes recorded.
func (p *Pending) Len() int { return len(p.order) }

// Reset empties p, keeping its storage.
func (p *Pending) Reset() {
	clear(p.versions)
	clear(p.byPatient)
	p.order = p.order[:0]
}

// View returns what a write at position pos sees of p: the writes recorded
// at positions before pos.
func (p *Pending) View(pos int) View { return View{p: p, before: pos} }

// View is what one write sees of the writes prepared before it in the same
// transaction or import batch. The zero View sees none.
type View struct {
	p      *Pending
	before int
}

// Version returns the version of typ/id that a write prepared before the
// current one will store: an earlier entry of the same transaction, or an
// earlier line of the same import batch. Transaction entries are prepared
// in the R4 order (DELETE, POST, PUT/PATCH) and, within each, after the
// entries they refer to.
func (v View) Version(typ, id string) (*store.Version, bool) {
	if v.p == nil {
		return nil, false
	}
	var best *pendingVersion
	for _, pv := range v.p.versions[typ+"/"+id] {
		if pv.pos < v.before && (best == nil || pv.pos >= best.pos) {
			best = pv
		}
	}
	if best == nil {
		return nil, false
	}
	return best.v, true
}

// Versions returns every pending version visible to the current write, in
// the order they were prepared (a resource's earlier pending versions
// included); nil for the zero View.
func (v View) Versions() []*store.Version {
	if v.p == nil {
		return nil
	}
	var out []*store.Version
	for _, pv := range v.p.order {
		if pv.pos < v.before {
			out = append(out, pv.v)
		}
	}
	return out
}

// PatientVersions returns the pending versions of type typ visible to the
// current write that are in the compartment of Patient/patient (by the
// index extraction's compartment, as Change.Patients records it). A rule
// that asks the store for a patient's resources of one type (a care plan's
// consent check) asks this too, without scanning a large batch.
func (v View) PatientVersions(typ, patient string) []*store.Version {
	if v.p == nil {
		return nil
	}
	var out []*store.Version
	for _, pv := range v.p.byPatient[typ+"|"+patient] {
		if pv.pos < v.before {
			if latest, _ := v.Version(pv.v.Type, pv.v.ID); latest == pv.v {
				out = append(out, pv.v)
			}
		}
	}
	return out
}
