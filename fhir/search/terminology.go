package search

import (
	"context"
	"errors"
	"fmt"

	"ucp/fhir/outcome"
	"ucp/store"
)

// Coding is one code of a value set expansion.
type Coding struct {
	System string
	Code   string
}

// Terminology answers the token modifiers that need terminology knowledge:
// :in and :not-in (the codes of a ValueSet stored on the server) and
// :above and :below (a code's place in a CodeSystem's hierarchy). Whoever
// builds the registry supplies one (SetTerminology), such as
// terminology.Source over the stored ValueSets and CodeSystems; without one
// those modifiers are unsupported.
//
// Each method runs under the context of the search being parsed. Errors
// should be *outcome.Error: NotFound for an unknown value set or code system
// (Parse reports it as Invalid, naming the parameter); a context's error is
// passed on as it is.
type Terminology interface {
	// Expand returns the codes of the value set with this canonical url
	// (|version allowed).
	Expand(ctx context.Context, valueSetURL string) ([]Coding, error)
	// Descendants returns the codes below code in system's hierarchy
	// (is-a, transitively), not including code itself.
	Descendants(ctx context.Context, system, code string) ([]string, error)
	// Ancestors returns the codes above code in system's hierarchy
	// (transitively), not including code itself.
	Ancestors(ctx context.Context, system, code string) ([]string, error)
}

// MaxExpansion bounds the codes one :in, :not-in, :above or :below value
// may expand to: each becomes an index lookup, and a larger set is better
// asked of a terminology server than ORed into a query.
const MaxExpansion = 1000

// SetTerminology sets the terminology source of the token modifiers :in,
// :not-in, :above and :below; nil removes it.
func (r *Registry) SetTerminology(t Terminology) {
	r.mu.Lock()
	r.term = t
	r.mu.Unlock()
}

// expandToken returns the token conditions an :in, :not-in, :above or
// :below value stands for (ORed; the caller negates them for :not-in).
func (r *Registry) expandToken(ctx context.Context, p *Param, key, mod, raw string) ([]store.Cond, error) {
	if r.term == nil {
		return nil, ignore("%s: modifier :%s needs a terminology source, and this server has none", key, mod)
	}
	var codings []Coding
	switch mod {
	case "in", "not-in":
		url := unescape(raw)
		if url == "" {
			return nil, invalid("%s: no value set", key)
		}
		cs, err := r.term.Expand(ctx, url)
		if err != nil {
			return nil, termErr(key, err)
		}
		codings = cs
	case "above", "below":
		parts := splitEscaped(raw, '|')
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return nil, invalid("%s: %q must be system|code", key, raw)
		}
		system, code := unescape(parts[0]), unescape(parts[1])
		var more []string
		var err error
		if mod == "below" {
			more, err = r.term.Descendants(ctx, system, code)
		} else {
			more, err = r.term.Ancestors(ctx, system, code)
		}
		if err != nil {
			return nil, termErr(key, err)
		}
		codings = append(codings, Coding{System: system, Code: code})
		for _, c := range more {
			codings = append(codings, Coding{System: system, Code: c})
		}
	}
	if len(codings) > MaxExpansion {
		return nil, invalid("%s: the value expands to %d codes, more than the %d this server searches at once", key, len(codings), MaxExpansion)
	}
	if len(codings) == 0 {
		return nil, invalid("%s: %q expands to no codes", key, raw)
	}
	conds := make([]store.Cond, 0, len(codings))
	seen := map[Coding]bool{}
	for _, c := range codings {
		if c.Code == "" || seen[c] {
			continue
		}
		seen[c] = true
		conds = append(conds, store.Cond{Param: p.Code, Type: store.Token, System: c.System, SystemSet: c.System != "", Code: c.Code})
	}
	return conds, nil
}

func termErr(key string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // the request ended or ran out of time: not the client's mistake
	}
	msg := err.Error()
	if se := outcome.AsError(err); se != nil {
		msg = se.Message
	}
	return &outcome.Error{Kind: outcome.Invalid, Message: fmt.Sprintf("%s: %s", key, msg), Err: err}
}
