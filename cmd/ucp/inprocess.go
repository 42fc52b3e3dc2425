package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
)

// callAPI sends one request to the API in process (start-up loading, the
// demo, ucp bench: trusted code going through the same rules as clients)
// and returns the body when the status is one of want (200 when none is
// given).
func callAPI(ctx context.Context, api http.Handler, method, path string, body []byte, want ...int) ([]byte, error) {
	var r *http.Request
	if body != nil {
		r = httptest.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/fhir+json")
	} else {
		r = httptest.NewRequestWithContext(ctx, method, path, nil)
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, r)
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}
	if !slices.Contains(want, rec.Code) {
		return nil, fmt.Errorf("%s %s answered %d: %.500s", method, path, rec.Code, rec.Body.String())
	}
	return rec.Body.Bytes(), nil
}
