package auth

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"ucp/fhir/outcome"
	"ucp/fhir/service"
	"ucp/store"
)

// ODSSystem is the identifier system of ODS organisation codes.
const ODSSystem = "https://fhir.nhs.uk/Id/ods-organization-code"

// Authorizer decides whether the caller in ctx may perform an interaction:
// the service's hook. [*Policy], [AgreementPolicy] and [OperationPolicy]
// are Authorizers, and wrap one another.
type Authorizer = service.Authorizer

// AgreementSource answers whether an organisation has an information-sharing
// agreement with this service that is in force at a given time.
type AgreementSource interface {
	HasAgreement(ctx context.Context, ods string, at time.Time) (bool, error)
}

// AgreementPolicy refuses every interaction of a principal whose
// organisation has no information-sharing agreement in force (DESIGN.md
// "Security and governance"), after Next has allowed it.
//
// Exempt: capabilities (public), anonymous requests (Next answers 401),
// patients (they see their own plan whoever their GP is), the staff of the
// Operator organisation, which runs the service and so has no agreement
// with itself (its admins record everyone else's: see [Policy.Operator]),
// and system clients with no organisation, which are vetted when they are
// registered. Everyone else is checked, admins included: an admin of an
// organisation without an agreement must not be able to act for it. A
// system client that does name an organisation is checked like a person.
type AgreementPolicy struct {
	Next       Authorizer
	Agreements AgreementSource
	// Operator is the ODS code of the organisation that runs the service;
	// "" means none is exempt.
	Operator string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Authorize implements the service's Authorizer: Next first, then the
// agreement of the caller's organisation.
func (ap *AgreementPolicy) Authorize(ctx context.Context, a Access) error {
	if err := ap.Next.Authorize(ctx, a); err != nil {
		return err
	}
	if a.Interaction == "capabilities" {
		return nil
	}
	p := FromContext(ctx)
	if p == nil || p.Role == RolePatient {
		return nil
	}
	if p.Org != "" && p.Org == ap.Operator {
		return nil
	}
	if p.Org == "" {
		if p.Role == RoleSystem {
			return nil
		}
		// Staff act for an organisation; without one there is nobody
		// accountable for what they see.
		return forbidden("your token names no organisation, and only organisations with an information-sharing agreement may use this service")
	}
	now := time.Now
	if ap.Now != nil {
		now = ap.Now
	}
	ok, err := ap.Agreements.HasAgreement(ctx, p.Org, now())
	if err != nil {
		return err // fail closed: an unknown agreement is no agreement
	}
	if !ok {
		return &outcome.Error{Kind: outcome.Forbidden,
			Message: "organisation " + p.Org + " has no active information-sharing agreement with this service"}
	}
	return nil
}

// StoreAgreements is an AgreementSource backed by the Contract resources in
// the store. A Contract is an information-sharing agreement with an
// organisation when:
//
//   - status is "executed";
//   - applies (a Period) covers the time asked about: a missing start or end
//     is open on that side, and a missing applies is in force indefinitely.
//     Both bounds are inclusive at their precision, as FHIR defines Period
//     ("the end value includes any matching date/time"): an agreement
//     ending "2027-12-31" is in force all that day, one ending at
//     "2027-12-31T17:00:00Z" until that second is over, and neither from
//     the first instant after;
//   - authority[] or signer[].party holds a Reference whose identifier is
//     {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value":
//     ODS code}.
//
// Other elements (subject, scope, term, legal text) are free. For example:
//
//	{"resourceType": "Contract", "id": "isa-rx1", "status": "executed",
//	 "applies": {"start": "2026-01-01", "end": "2027-12-31"},
//	 "authority": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RX1"}}]}
//
// Contract is not a served, indexed type today, so the source does not
// search by parameter: it loads every current Contract (a handful, written
// by admins) and keeps the resulting table for TTL, so the check costs a map
// lookup on the hot path. [StoreAgreements.Invalidate] drops the table early.
type StoreAgreements struct {
	Store store.Store
	// TTL is how long a loaded table is used; 0 means 30 seconds. A newly
	// recorded or revoked agreement takes effect within TTL unless the
	// writer calls Invalidate.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	table    map[string][]period // ODS code → periods of executed agreements
	loaded   time.Time
	dirtyTil time.Time
}

type period struct{ start, end time.Time } // zero: open

// HasAgreement implements AgreementSource.
func (s *StoreAgreements) HasAgreement(ctx context.Context, ods string, at time.Time) (bool, error) {
	table, err := s.current(ctx)
	if err != nil {
		return false, err
	}
	for _, p := range table[ods] {
		if (p.start.IsZero() || !at.Before(p.start)) && (p.end.IsZero() || at.Before(p.end)) {
			return true, nil
		}
	}
	return false, nil
}

// dirtyWindow is how long after Invalidate every check reloads: the
// Contract write that caused it commits after the interceptor runs, so one
// reload at once could read the old state and keep it for a whole TTL.
const dirtyWindow = 2 * time.Second

// Invalidate makes the next checks reload the agreements from the store.
func (s *StoreAgreements) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.table = nil
	s.dirtyTil = s.now().Add(dirtyWindow)
}

func (s *StoreAgreements) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// current returns the table, reloading it when stale. The lock is held
// across the load so that a burst of requests after expiry loads once.
func (s *StoreAgreements) current(ctx context.Context) (map[string][]period, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	now := s.now()
	if s.table != nil && now.Sub(s.loaded) < ttl && !now.Before(s.loaded) && !now.Before(s.dirtyTil) {
		return s.table, nil
	}
	table, err := loadAgreements(ctx, s.Store)
	if err != nil {
		return nil, err
	}
	s.table, s.loaded = table, now
	return table, nil
}

// maxContracts bounds the load: agreements are written by hand, and a store
// full of Contracts is a misconfiguration to fail on, not to page through
// on every expiry.
const maxContracts = 10000

func loadAgreements(ctx context.Context, st store.Store) (map[string][]period, error) {
	table := map[string][]period{}
	q := store.Query{Types: []string{"Contract"}, Count: 500, Total: store.TotalNone}
	n := 0
	for {
		res, err := st.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, v := range res.Versions {
			n++
			addAgreement(table, v.JSON)
		}
		if res.Next == "" {
			return table, nil
		}
		if n >= maxContracts {
			return nil, outcome.Errorf(outcome.Internal, "more than %d Contract resources: refusing to load them all for the agreement check", maxContracts)
		}
		q.Cursor = res.Next
	}
}

// contract is the part of an R4 Contract the check reads.
type contract struct {
	Status  string `json:"status"`
	Applies *struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"applies"`
	Authority []reference `json:"authority"`
	Signer    []struct {
		Party reference `json:"party"`
	} `json:"signer"`
}

type reference struct {
	Identifier *struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
}

func addAgreement(table map[string][]period, data []byte) {
	var c contract
	if json.Unmarshal(data, &c) != nil || c.Status != "executed" {
		return
	}
	var p period
	if c.Applies != nil {
		var ok bool
		if p.start, ok = parseBound(c.Applies.Start, false); !ok {
			return
		}
		if p.end, ok = parseBound(c.Applies.End, true); !ok {
			return
		}
	}
	refs := slices.Clone(c.Authority)
	for _, s := range c.Signer {
		refs = append(refs, s.Party)
	}
	seen := map[string]bool{}
	for _, r := range refs {
		if r.Identifier == nil || r.Identifier.System != ODSSystem || r.Identifier.Value == "" || seen[r.Identifier.Value] {
			continue
		}
		seen[r.Identifier.Value] = true
		table[r.Identifier.Value] = append(table[r.Identifier.Value], p)
	}
}

// parseBound parses a FHIR dateTime bound at its precision. An end is
// stored exclusive, widened to the end of its precision ("2027-12-31" runs
// to the end of that day, "…T17:00:00Z" to the end of that second,
// "…T17:00:00.5Z" to the end of that tenth), because FHIR's Period includes
// every time that matches the end as written. An unparseable bound makes the
// whole agreement count as absent: fail closed.
func parseBound(s string, end bool) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	layouts := []struct {
		layout string
		step   func(time.Time) time.Time
	}{
		{time.RFC3339Nano, func(t time.Time) time.Time { return t.Add(instantPrecision(s)) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
	}
	for _, l := range layouts {
		// Dates without a zone are read as UTC; FHIR leaves them local to
		// the author, and a few hours either side does not matter here.
		t, err := time.Parse(l.layout, s)
		if err != nil {
			continue
		}
		if end {
			t = l.step(t)
		}
		return t, true
	}
	return time.Time{}, false
}

// instantPrecision is the unit of the last digit of a dateTime with a time
// (RFC 3339, seconds always present): a second, or a power of ten of one
// when there is a fraction.
func instantPrecision(s string) time.Duration {
	p := time.Second
	if _, frac, ok := strings.Cut(s, "."); ok {
		for i := 0; i < len(frac) && frac[i] >= '0' && frac[i] <= '9' && p > time.Nanosecond; i++ {
			p /= 10
		}
	}
	return p
}
