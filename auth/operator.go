package auth

import "slices"

// Service-level acts. Recording an information-sharing agreement decides
// which organisations see every patient's plan, the audit trail shows who
// opened whose record, and $reindex decides what every search finds. They
// belong to the organisation that runs the service (Policy.Operator), not
// to the admin of any organisation: otherwise an organisation could give
// itself an agreement through its own admin.

// isOperator reports whether p acts for the organisation that runs the
// service.
func (pol *Policy) isOperator(p *Principal) bool {
	return pol.Operator != "" && p.Org == pol.Operator
}

// serviceLevel refuses the service-level acts the role table allows more
// widely: agreement writes and audit reads by an admin unless they are the
// operator's, agreement writes by a system client (a person signs for
// them), and a system's audit reads unless its scopes name the audit type.
// A wildcard scope (system/*.rs) is written for the clinical record;
// reading who opened whose record is asked for by name.
func (pol *Policy) serviceLevel(p *Principal, a Access) error {
	agreement := a.Type == "Contract" && !isReadish(a.Interaction)
	switch p.Role {
	case RoleAdmin:
		if !agreement && !slices.Contains(pol.AuditTypes, a.Type) || pol.isOperator(p) {
			return nil
		}
		if pol.Operator == "" {
			return forbidden("no organisation is configured as the operator of this service, so no admin may %s %s", a.Interaction, a.Type)
		}
		return forbidden("only admins of the organisation that runs this service (ODS %s) may %s %s", pol.Operator, a.Interaction, a.Type)
	case RoleSystem:
		if agreement {
			return forbidden("information-sharing agreements (Contract) are recorded by admins of the organisation that runs this service, not by system clients")
		}
		for _, t := range pol.auditReached(a) {
			interaction, query := a.Interaction, a.Query
			if interaction == "history-system" {
				interaction = "history-type"
			}
			if !p.Scopes.naming(t).AllowsQuery(LevelSystem, interaction, t, query) {
				return forbidden("%s is readable only with a scope that names it (system/%s.rs); a wildcard scope does not reach the audit", t, t)
			}
		}
	}
	return nil
}

// auditReached lists the audit types an interaction reads: its own type,
// or every audit type for a history of all types. (A search of all types
// is asked again for each type it reaches, by the REST layer, which leaves
// out the types refused here.)
func (pol *Policy) auditReached(a Access) []string {
	if a.Interaction == "history-system" {
		return pol.AuditTypes
	}
	if slices.Contains(pol.AuditTypes, a.Type) {
		return []string{a.Type}
	}
	return nil
}

// naming returns the resource scopes that name typ itself, not "*".
func (ss Scopes) naming(typ string) Scopes {
	var out Scopes
	for _, s := range ss {
		if s.IsResource() && s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// authorizeReindex decides $reindex (of a.Type, or at system level of
// every type, when the REST layer asks again for each type it touches): an
// admin of the operator or a system client, whose scopes allow updating
// the type, explicitly or through "*". Nobody else: re-extracting every
// resource's index changes what every search finds, and costs the whole
// store's worth of work.
func (pol *Policy) authorizeReindex(p *Principal, a Access) error {
	level := ""
	switch {
	case p.Role == RoleSystem:
		level = LevelSystem
	case p.Role == RoleAdmin && pol.isOperator(p):
		level = LevelUser
	}
	if level != "" {
		if a.Type != "" && p.Scopes.AllowsQuery(level, "update", a.Type, "") {
			return nil
		}
		// At system level the types come next; a caller who can update
		// nothing is refused at once.
		if a.Type == "" && slices.ContainsFunc(p.Scopes, func(s Scope) bool { return s.Level == level && s.Query == nil && s.Perm&PermUpdate != 0 }) {
			return nil
		}
	}
	where := "every type it touches"
	if a.Type != "" {
		where = a.Type
	}
	return forbidden("$reindex is an operator's act: only admins of the organisation that runs this service and system clients with write scopes on %s may run it", where)
}
