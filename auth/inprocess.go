package auth

import "context"

// InProcess is the Authorizer of a server whose own start-up work (its
// definitions, the demo data) runs through the same FHIR service as every
// client: it allows every interaction of the in-process principals it
// names and asks Next about everyone else. A principal is trusted by
// identity (the pointer the server made), never by its fields, so nothing
// a token carries can make a caller one of them.
type InProcess struct {
	Next    Authorizer
	Trusted []*Principal
}

// Authorize implements the service's Authorizer.
func (ip InProcess) Authorize(ctx context.Context, a Access) error {
	if p := FromContext(ctx); p != nil {
		for _, t := range ip.Trusted {
			if p == t {
				return nil
			}
		}
	}
	return ip.Next.Authorize(ctx, a)
}
