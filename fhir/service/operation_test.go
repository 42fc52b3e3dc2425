package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/outcome"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/store/sqlite"
)

// opGate refuses the operation named secret and records what the service
// asks it and what it audits.
type opGate struct {
	asked   []service.Access
	records []service.AuditRecord
}

func (g *opGate) Authorize(_ context.Context, a service.Access) error {
	g.asked = append(g.asked, a)
	if a.Operation == "secret" {
		return outcome.Errorf(outcome.Forbidden, "not for you")
	}
	return nil
}

func (g *opGate) Record(_ context.Context, r service.AuditRecord) {
	g.records = append(g.records, r)
}

func opService(t *testing.T, cfg service.Config) *service.Service {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := search.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Registry = st, reg
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestOperationDispatch: Service.Operation finds the operation for the
// name and level, refuses a GET of one that changes data, authorises the
// call before reading its body, and records each authorised call, allowed
// or refused, with the status a door answers.
func TestOperationDispatch(t *testing.T) {
	g := &opGate{}
	echo := func(_ context.Context, r *service.OperationRequest) (int, any, error) {
		return 0, map[string]any{"resourceType": "Parameters", "parameter": []any{
			map[string]any{"name": "said", "valueString": r.String("say")}}}, nil
	}
	svc := opService(t, service.Config{Authorizer: g, Audit: g, Operations: []service.Operation{
		{Name: "echo", Types: []string{"Patient"}, Handler: echo},
		{Name: "$secret", System: true, Handler: echo},
		{Name: "change", System: true, AffectsState: true, Handler: func(context.Context, *service.OperationRequest) (int, any, error) {
			return 0, nil, nil
		}},
	}})
	ctx := context.Background()
	bodyRead := false
	body := func() (map[string]any, error) {
		bodyRead = true
		return map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "say", "valueString": "hello"}}}, nil
	}
	tests := []struct {
		name      string
		req       service.OperationRequest
		wantKind  outcome.Kind // Internal for none
		wantBody  string
		wantRead  bool
		wantAudit []service.AuditRecord
	}{
		{
			name:     "allowed at type level, body read once authorised",
			req:      service.OperationRequest{Name: "echo", Method: "POST", Type: "Patient", Path: "/fhir/Patient/$echo", ReadBody: body},
			wantBody: `{"resourceType":"Parameters","parameter":[{"name":"said","valueString":"hello"}]}`,
			wantRead: true,
			wantAudit: []service.AuditRecord{{Access: service.Access{Interaction: "operation", Operation: "echo", Type: "Patient"},
				Method: "POST", Path: "/fhir/Patient/$echo", Status: 200}},
		},
		{
			name:     "not at instance level",
			req:      service.OperationRequest{Name: "$echo", Method: "GET", Type: "Patient", ID: "p1", Query: url.Values{"say": {"hi"}}},
			wantKind: outcome.NotFound,
		},
		{
			name:     "query parameters reach the handler and the access",
			req:      service.OperationRequest{Name: "$echo", Method: "GET", Type: "Patient", Query: url.Values{"say": {"hi"}}},
			wantBody: `{"resourceType":"Parameters","parameter":[{"name":"said","valueString":"hi"}]}`,
			wantAudit: []service.AuditRecord{{Access: service.Access{Interaction: "operation", Operation: "echo", Type: "Patient", Query: "say=hi"},
				Method: "GET", Status: 200}},
		},
		{
			name:     "unknown level",
			req:      service.OperationRequest{Name: "echo", Method: "GET"},
			wantKind: outcome.NotFound,
		},
		{
			name:     "refused by the authorizer, body unread, refusal audited",
			req:      service.OperationRequest{Name: "secret", Method: "POST", Path: "/fhir/$secret", ReadBody: body},
			wantKind: outcome.Forbidden,
			wantAudit: []service.AuditRecord{{Access: service.Access{Interaction: "operation", Operation: "secret"},
				Method: "POST", Path: "/fhir/$secret", Status: 403}},
		},
		{
			name:     "GET of an operation that changes data",
			req:      service.OperationRequest{Name: "change", Method: "GET"},
			wantKind: outcome.MethodNotAllowed,
		},
		{
			name: "no body: 204",
			req:  service.OperationRequest{Name: "change", Method: "POST", Query: url.Values{"a": {"1"}}},
			wantAudit: []service.AuditRecord{{Access: service.Access{Interaction: "operation", Operation: "change", Query: "a=1"},
				Method: "POST", Status: 204}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g.records, bodyRead = nil, false
			req := tt.req
			res, err := svc.Operation(ctx, &req)
			if tt.wantKind != outcome.Internal {
				if outcome.KindOf(err) != tt.wantKind {
					t.Fatalf("error %v, want kind %v", err, tt.wantKind)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if string(res.Body) != tt.wantBody {
				t.Errorf("body %s, want %s", res.Body, tt.wantBody)
			}
			if bodyRead != tt.wantRead {
				t.Errorf("body read: %v, want %v", bodyRead, tt.wantRead)
			}
			for i := range g.records {
				if (g.records[i].Err != nil) != (tt.wantKind != outcome.Internal) {
					t.Errorf("audited error %v, want one only for a refusal", g.records[i].Err)
				}
				g.records[i].Time, g.records[i].Err = time.Time{}, nil
			}
			if diff := cmp.Diff(tt.wantAudit, g.records); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEverythingInProcess: $everything is an operation of the service, so
// a door without HTTP gets the patient's record, paged with cursors the
// service sealed; the cursor continues for the same caller and key only.
func TestEverythingInProcess(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	caller := func(ctx context.Context) string { s, _ := ctx.Value(callerKey{}).(string); return s }
	ctx := context.WithValue(context.Background(), callerKey{}, "alice")
	// node is a service over a store of its own holding the same
	// resources, as the nodes of one deployment would see them.
	node := func(key []byte) *service.Service {
		svc := opService(t, service.Config{CursorKey: key, Caller: caller})
		put := func(typ, id string, res map[string]any) {
			t.Helper()
			res["resourceType"], res["id"] = typ, id
			if _, err := svc.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: typ, ID: id, CreateOnMissing: true, Resource: res}); err != nil {
				t.Fatal(err)
			}
		}
		put("Practitioner", "dr", map[string]any{})
		put("Patient", "p1", map[string]any{"generalPractitioner": []any{map[string]any{"reference": "Practitioner/dr"}}})
		put("Observation", "o1", map[string]any{"status": "final", "code": map[string]any{"text": "x"}, "subject": map[string]any{"reference": "Patient/p1"}})
		put("Patient", "p2", map[string]any{})
		return svc
	}
	svc := node(key)

	page := func(ctx context.Context, svc *service.Service, cursor string) ([]everythingEntry, string, error) {
		q := url.Values{"_count": {"1"}}
		if cursor != "" {
			q.Set("_cursor", cursor)
		}
		res, err := svc.Operation(ctx, &service.OperationRequest{Name: "everything", Method: http.MethodGet, Type: "Patient", ID: "p1", Query: q, Base: "http://x/fhir"})
		if err != nil {
			return nil, "", err
		}
		var b service.Bundle
		if err := json.Unmarshal(res.Body, &b); err != nil {
			t.Fatal(err)
		}
		var got []everythingEntry
		for _, e := range b.Entry {
			got = append(got, everythingEntry{strings.TrimPrefix(e.FullURL, "http://x/fhir/"), e.Search.Mode})
		}
		next := ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				u, err := url.Parse(l.URL)
				if err != nil {
					t.Fatal(err)
				}
				next = u.Query().Get("_cursor")
			}
		}
		return got, next, nil
	}
	var all []everythingEntry
	got, next, err := page(ctx, svc, "")
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, got...)
	if next == "" {
		t.Fatal("no next link on the first page of two")
	}
	// Another node with the same key continues the paging; another caller
	// or another key cannot.
	if _, _, err := page(context.WithValue(ctx, callerKey{}, "mallory"), svc, next); outcome.KindOf(err) != outcome.Invalid {
		t.Errorf("another caller's cursor: %v, want Invalid", err)
	}
	if _, _, err := page(ctx, node(nil), next); outcome.KindOf(err) != outcome.Invalid {
		t.Errorf("a cursor under another key: %v, want Invalid", err)
	}
	if _, _, err := page(ctx, node(key), next); err != nil {
		t.Errorf("a cursor on a node sharing the key: %v, want the next page", err)
	}
	for next != "" {
		if got, next, err = page(ctx, svc, next); err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
	}
	want := []everythingEntry{{"Observation/o1", "match"}, {"Patient/p1", "match"}, {"Practitioner/dr", "include"}}
	if diff := cmp.Diff(want, sortEntries(all)); diff != "" {
		t.Errorf("$everything entries (-want +got):\n%s", diff)
	}
}

type callerKey struct{}

// everythingEntry is one entry of $everything: the resource and its
// search mode.
type everythingEntry struct{ Ref, Mode string }

func sortEntries(es []everythingEntry) []everythingEntry {
	sort.Slice(es, func(i, j int) bool { return es[i].Ref < es[j].Ref })
	return es
}

// TestOperationForgetsRemembered: an operation may write through a service
// of its own, so what its interaction remembered (Call.Remember) is dropped
// once it has run, as after a write of the interaction itself.
func TestOperationForgetsRemembered(t *testing.T) {
	type key string
	svc := opService(t, service.Config{Operations: []service.Operation{
		{Name: "change", System: true, AffectsState: true, Handler: func(context.Context, *service.OperationRequest) (int, any, error) {
			return 0, nil, nil
		}},
	}})
	call := &service.Call{}
	computed := 0
	remember := func() {
		if _, err := call.Remember(key("consent of pat"), func() (any, error) { computed++; return "permit", nil }); err != nil {
			t.Fatal(err)
		}
	}
	remember()
	remember()
	if _, err := svc.For(call).Operation(context.Background(), &service.OperationRequest{Name: "change", Method: "POST", Path: "/fhir/$change"}); err != nil {
		t.Fatal(err)
	}
	remember()
	if computed != 2 {
		t.Errorf("computed %d times, want 2: once before the operation, once after", computed)
	}
}
