package outcome_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/outcome"
	"ucp/store"
)

type challengeErr struct{}

func (challengeErr) Error() string     { return "token expired" }
func (challengeErr) Challenge() string { return `Bearer realm="ucp", error="invalid_token"` }

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		kind   outcome.Kind
		status int
		want   outcome.OperationOutcome
	}{{
		name: "store not found", err: &store.Error{Kind: store.NotFound, Message: "Patient/x is not known"},
		kind: outcome.NotFound, status: 404,
		want: outcome.New(outcome.Issue{Severity: "error", Code: "not-found", Diagnostics: "Patient/x is not known"}),
	}, {
		name: "store precondition, wrapped", err: fmt.Errorf("update: %w", store.Errorf(store.PreconditionFailed, "version 3 is not current")),
		kind: outcome.PreconditionFailed, status: 412,
		want: outcome.New(outcome.Issue{Severity: "error", Code: "conflict", Diagnostics: "version 3 is not current"}),
	}, {
		name: "forbidden", err: outcome.Errorf(outcome.Forbidden, "not your patient"),
		kind: outcome.Forbidden, status: 403,
		want: outcome.New(outcome.Issue{Severity: "error", Code: "forbidden", Diagnostics: "not your patient"}),
	}, {
		name: "invalid at a location", err: outcome.At(outcome.Invalid, "Patient.birthDate", "not a date"),
		kind: outcome.Invalid, status: 400,
		want: outcome.New(outcome.Issue{Severity: "error", Code: "invalid", Diagnostics: "not a date", Expression: []string{"Patient.birthDate"}}),
	}, {
		name: "a more precise code", err: &outcome.Error{Kind: outcome.NotFound, Code: "not-supported", Message: "resource type \"Nope\" is not supported"},
		kind: outcome.NotFound, status: 404,
		want: outcome.New(outcome.Issue{Severity: "error", Code: "not-supported", Diagnostics: "resource type \"Nope\" is not supported"}),
	}, {
		name: "one issue each", err: &outcome.Error{Kind: outcome.Unprocessable, Message: "2 problems", Issues: []outcome.Issue{
			{Code: "required", Diagnostics: "status is required", Expression: []string{"CarePlan.status"}},
			{Diagnostics: "no author"},
		}},
		kind: outcome.Unprocessable, status: 422,
		want: outcome.New(
			outcome.Issue{Severity: "error", Code: "required", Diagnostics: "status is required", Expression: []string{"CarePlan.status"}},
			outcome.Issue{Severity: "error", Code: "processing", Diagnostics: "no author"}),
	}, {
		name: "no message", err: &outcome.Error{Kind: outcome.Gone},
		kind: outcome.Gone, status: 410,
		want: outcome.New(outcome.Issue{Severity: "error", Code: "deleted", Diagnostics: "gone"}),
	}, {
		name: "internal hides its detail", err: errors.New("disk on fire at /var/lib/ucp"),
		kind: outcome.Internal, status: 500,
		want: outcome.New(outcome.Issue{Severity: "fatal", Code: "exception", Diagnostics: "internal server error"}),
	}, {
		name: "store internal hides its detail", err: &store.Error{Kind: store.Internal, Message: "select versions", Err: errors.New("no such table")},
		kind: outcome.Internal, status: 500,
		want: outcome.New(outcome.Issue{Severity: "fatal", Code: "exception", Diagnostics: "internal server error"}),
	}, {
		name: "client went away", err: context.Canceled,
		kind: outcome.Canceled, status: outcome.StatusClientClosed,
		want: outcome.New(outcome.Issue{Severity: "error", Code: "incomplete", Diagnostics: "the request was canceled"}),
	}, {
		name: "store query interrupted by the client going away", err: &store.Error{Kind: store.Internal, Message: "search", Err: fmt.Errorf("query: %w", context.Canceled)},
		kind: outcome.Canceled, status: outcome.StatusClientClosed,
		want: outcome.New(outcome.Issue{Severity: "error", Code: "incomplete", Diagnostics: "the request was canceled"}),
	}, {
		name: "deadline passed", err: &store.Error{Kind: store.Internal, Message: "write", Err: context.DeadlineExceeded},
		kind: outcome.Timeout, status: 503,
		want: outcome.New(outcome.Issue{Severity: "fatal", Code: "timeout", Diagnostics: "the request did not finish in time"}),
	}, {
		name: "a precise kind wins over the deadline", err: &outcome.Error{Kind: outcome.TooCostly, Message: "the search did not finish", Err: context.DeadlineExceeded},
		kind: outcome.TooCostly, status: 503,
		want: outcome.New(outcome.Issue{Severity: "fatal", Code: "too-costly", Diagnostics: "the search did not finish"}),
	}, {
		name: "store conflict over a cancellation", err: &store.Error{Kind: store.Conflict, Message: "database busy, retry", Err: context.Canceled},
		kind: outcome.Conflict, status: 409,
		want: outcome.New(outcome.Issue{Severity: "error", Code: "conflict", Diagnostics: "database busy, retry"}),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := outcome.KindOf(tc.err); got != tc.kind {
				t.Errorf("KindOf = %v, want %v", got, tc.kind)
			}
			if got := outcome.Status(tc.err); got != tc.status {
				t.Errorf("Status = %d, want %d", got, tc.status)
			}
			status, got := outcome.Describe(tc.err)
			if status != tc.status {
				t.Errorf("Describe status = %d, want %d", status, tc.status)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Describe (-want +got):\n%s", diff)
			}
		})
	}
}

// Every kind has its own name, and each store kind reads as the outcome
// kind of the same name, so no store error changes its status on the way.
func TestKinds(t *testing.T) {
	seen := map[string]bool{}
	for k := outcome.Internal; k <= outcome.Canceled; k++ {
		name := k.String()
		if seen[name] || name == fmt.Sprintf("kind(%d)", int(k)) {
			t.Errorf("kind %d has name %q, not its own", int(k), name)
		}
		seen[name] = true
		if k.Status() == 0 || k.Code() == "" {
			t.Errorf("%v: status %d, code %q", k, k.Status(), k.Code())
		}
	}
	if got := outcome.Kind(-1).Status(); got != http.StatusInternalServerError {
		t.Errorf("unknown kind status = %d, want 500", got)
	}
	for _, sk := range []store.Kind{store.Internal, store.NotFound, store.Gone, store.Conflict, store.PreconditionFailed, store.Invalid, store.Unsupported} {
		if got := outcome.KindOf(&store.Error{Kind: sk}).String(); got != sk.String() {
			t.Errorf("store kind %v reads as %v", sk, got)
		}
	}
}

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		header http.Header
		body   string
	}{{
		name: "unauthenticated carries its challenge", err: &outcome.Error{Kind: outcome.Unauthenticated, Message: "token expired", Err: challengeErr{}},
		status: 401,
		header: http.Header{
			"Content-Type":     {"application/fhir+json; charset=utf-8"},
			"Cache-Control":    {"no-store"},
			"Www-Authenticate": {`Bearer realm="ucp", error="invalid_token"`},
		},
		body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","diagnostics":"token expired"}]}` + "\n",
	}, {
		name: "unauthenticated without a challenge of its own", err: outcome.Errorf(outcome.Unauthenticated, "authentication required"),
		status: 401,
		header: http.Header{
			"Content-Type":     {"application/fhir+json; charset=utf-8"},
			"Cache-Control":    {"no-store"},
			"Www-Authenticate": {`Bearer realm="ucp"`},
		},
		body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","diagnostics":"authentication required"}]}` + "\n",
	}, {
		name: "forbidden is not cached", err: outcome.Errorf(outcome.Forbidden, "break-glass reason missing"),
		status: 403,
		header: http.Header{
			"Content-Type":  {"application/fhir+json; charset=utf-8"},
			"Cache-Control": {"no-store"},
		},
		body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","diagnostics":"break-glass reason missing"}]}` + "\n",
	}, {
		name: "not found", err: outcome.Errorf(outcome.NotFound, "no such job"),
		status: 404,
		header: http.Header{"Content-Type": {"application/fhir+json; charset=utf-8"}},
		body:   `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"no such job"}]}` + "\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			outcome.Write(rec, tc.err)
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			if diff := cmp.Diff(tc.header, rec.Header()); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.body, rec.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInfoAndEmpty(t *testing.T) {
	for _, tc := range []struct {
		name string
		oo   outcome.OperationOutcome
		want string
	}{
		{"info", outcome.Info("deleted"), `{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational","diagnostics":"deleted"}]}`},
		{"no issues is an empty array", outcome.New(), `{"resourceType":"OperationOutcome","issue":[]}`},
	} {
		if diff := cmp.Diff(tc.want, string(tc.oo.JSON())); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
