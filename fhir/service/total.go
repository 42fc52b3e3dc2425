package service

import (
	"context"

	"ucp/store"
)

// hideable returns those of types (every served type when empty) whose
// resources the ReadInterceptor may hide from the caller.
func (s *Service) hideable(ctx context.Context, types []string) []string {
	if len(types) == 0 {
		types = s.cfg.Types
	}
	h, ok := s.cfg.ReadInterceptor.(TypeHider)
	if !ok {
		return types
	}
	var out []string
	for _, t := range types {
		if h.MayHide(ctx, t) {
			out = append(out, t)
		}
	}
	return out
}

// visibleTotal is a bundle's total as the caller may know it: the matches
// (or versions) the ReadInterceptor lets them see. The store counted them
// all, and a total that counts hidden ones tells the caller that something
// is hidden (a crew told "total": 1 with no plan in the bundle), so it is
// corrected:
//   - when everything is on this page, by the hidden ones on it;
//   - otherwise by the hidden ones among every match of a type that may be
//     hidden (hideable returns up to limit of them), when there are at most
//     maxRecount of those (the bound a chain's reach has too);
//   - otherwise it is left out (nil), as R4 allows: the count is not known.
//
// Deleted versions (in a history) are never hidden.
func (s *Service) visibleTotal(ctx context.Context, total int, onePage bool, hiddenHere int, hideable func(limit int) ([]store.Version, error)) (*int, error) {
	if onePage {
		total -= hiddenHere
		return &total, nil
	}
	if total == 0 {
		return &total, nil
	}
	vs, err := hideable(maxRecount + 1)
	if err != nil {
		return nil, err
	}
	if len(vs) > maxRecount {
		return nil, nil
	}
	for i := range vs {
		if !vs[i].Deleted && s.cfg.ReadInterceptor.AllowRead(ctx, &vs[i], Count, s.call) != nil {
			total--
		}
	}
	return &total, nil
}
