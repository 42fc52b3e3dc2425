package rest

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ucp/fhir/service"
	"ucp/store"
)

// now is the server clock at microsecond precision, the precision every
// store keeps.
func (s *Server) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// writeStatus is the HTTP status of a write's outcome.
func writeStatus(o service.Outcome) int {
	switch o {
	case service.Created:
		return http.StatusCreated
	case service.Deleted, service.NoOp:
		return http.StatusNoContent
	}
	return http.StatusOK
}

// parseCondition parses a conditional interaction's query (see
// service.Service.Condition).
func (s *Server) parseCondition(ctx context.Context, typ, raw string) (*store.Query, error) {
	return s.svc.Condition(ctx, typ, raw)
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
