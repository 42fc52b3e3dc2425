package service

import (
	"slices"
	"sync"
)

// Call is one interaction in progress as its door describes it to the
// hooks: passed to every ReadInterceptor (AllowRead), WriteInterceptor
// (WriteOp.Call), operation handler (OperationRequest.Call) and audit sink
// (AuditRecord.Call) the interaction reaches, never carried in the
// context. A door makes one per interaction and calls the service through
// Service.For:
//
//	call := &service.Call{BreakGlass: reason, Disclosure: &service.Disclosure{}}
//	v, err := svc.For(call).Read(ctx, "CarePlan", id)
//	sink.Record(ctx, service.AuditRecord{Access: …, Call: call})
//
// A nil *Call is an interaction without either: its methods answer as for
// the zero Call.
type Call struct {
	// BreakGlass is the reason the caller gave for emergency access, ""
	// for none. The door sets it once it has checked the caller may break
	// the glass (auth.BreakGlass for an HTTP request); read filters decide
	// what an emergency lets the caller see, and the audit records it.
	BreakGlass string
	// Disclosure collects whose data the interaction showed, for its audit
	// record; nil collects nothing.
	Disclosure *Disclosure

	mu   sync.Mutex
	memo map[any]any // Remember's values; dropped by each committed write
}

// Remember returns the value f computed earlier in this interaction under
// key, or calls f and keeps its value for the rest of the interaction. A
// read hook uses it for what one interaction asks many times (the consent
// of the patient of every plan in a bundle): one decision per interaction,
// never carried into the next, so a change committed before an interaction
// starts is always seen by it. A write the interaction itself commits drops
// every value (see Service.Committed). An error, or a nil c, keeps nothing.
// Keys follow the rules of context keys: a type of the caller's own.
func (c *Call) Remember(key any, f func() (any, error)) (any, error) {
	if c == nil {
		return f()
	}
	c.mu.Lock()
	v, ok := c.memo[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	// Not under mu: f does I/O, and two hooks computing the same value at
	// once only do the work twice.
	v, err := f()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.memo == nil {
		c.memo = map[any]any{}
	}
	c.memo[key] = v
	c.mu.Unlock()
	return v, nil
}

// forget drops what the interaction remembered: what it wrote may have
// changed it.
func (c *Call) forget() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.memo = nil
	c.mu.Unlock()
}

// BreakGlassReason returns c.BreakGlass; "" for a nil c.
func (c *Call) BreakGlassReason() string {
	if c == nil {
		return ""
	}
	return c.BreakGlass
}

// Disclosed returns c.Disclosure; nil for a nil c.
func (c *Call) Disclosed() *Disclosure {
	if c == nil {
		return nil
	}
	return c.Disclosure
}

// maxDisclosed bounds the patients one Disclosure lists; a search page is
// far smaller, so reaching it means a system export, audited as such.
const maxDisclosed = 1000

// Disclosure is what one interaction disclosed: the patients whose data it
// returned, those whose data the read filter refused it (someone tried to
// see them), and whether a write interceptor already audited its write. A
// read interceptor fills it (see auth/audit.CollectingReader); the audit
// sink reads it. It is safe for concurrent use; the methods of a nil
// *Disclosure do nothing.
type Disclosure struct {
	mu      sync.Mutex
	shown   []string
	refused []string
	audited bool
}

// Shown notes patients whose data the interaction returned.
func (d *Disclosure) Shown(patients ...string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.shown = addPatients(d.shown, patients)
	d.mu.Unlock()
}

// Refused notes patients whose data the read filter refused.
func (d *Disclosure) Refused(patients ...string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.refused = addPatients(d.refused, patients)
	d.mu.Unlock()
}

// Audited notes that the write was audited in the same store write.
func (d *Disclosure) Audited() {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.audited = true
	d.mu.Unlock()
}

// Report returns copies of the patients shown and refused, in the order
// first noted, and whether the write was audited.
func (d *Disclosure) Report() (shown, refused []string, audited bool) {
	if d == nil {
		return nil, nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.shown), slices.Clone(d.refused), d.audited
}

func addPatients(list, ids []string) []string {
	for _, id := range ids {
		if id != "" && len(list) < maxDisclosed && !slices.Contains(list, id) {
			list = append(list, id)
		}
	}
	return list
}

// For returns the service acting for call: the same service, whose hooks
// are given call for every interaction run through it. It is cheap (a
// copy of a few words); make one per interaction.
func (s *Service) For(call *Call) *Service {
	cp := *s
	cp.call = call
	return &cp
}
