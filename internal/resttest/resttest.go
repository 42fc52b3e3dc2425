// Package resttest is the kit that tests of ucp's FHIR HTTP API share: a
// real store and search registry in a temp dir, a server on loopback,
// requests and the checks of their answers, walking decoded JSON, and a
// few resource builders. Each test package keeps its own wiring (which
// interceptors, which principal) and uses this for the rest, so that a
// request is sent and an answer checked the same way everywhere.
package resttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucp/fhir/search"
	"ucp/profiles"
	"ucp/store"
	"ucp/store/postgres"
	"ucp/store/postgres/pgtest"
	"ucp/store/sqlite"
)

// OpenStore opens a fresh store, closed when the test ends: a SQLite file
// in tb's temp dir, or, when $UCP_TEST_POSTGRES names a PostgreSQL cluster
// (pgtest.Env, set by make test's run through pgrun), a new database of
// that cluster, so that the same HTTP tests hold both stores to the API.
func OpenStore(tb testing.TB) store.Store {
	tb.Helper()
	if url, ok := PostgresURL(tb); ok {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		return st
	}
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "ucp.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// PostgresURL returns the URL of a new, empty database when the tests run
// against PostgreSQL ($UCP_TEST_POSTGRES set), and false otherwise.
func PostgresURL(tb testing.TB) (string, bool) {
	return PostgresFor(tb, "")
}

// PostgresFor is PostgresURL for the store a test keeps at path (a SQLite
// file's): the same path gives the same database, so that a test that
// restarts a server on its store finds its data again. An empty path gives
// a new database each time.
func PostgresFor(tb testing.TB, path string) (string, bool) {
	tb.Helper()
	admin := os.Getenv(pgtest.Env)
	if admin == "" {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var url string
	var err error
	if path == "" {
		url, err = pgtest.NewDatabase(ctx, admin)
	} else {
		sum := sha256.Sum256([]byte(path))
		url, err = pgtest.Database(ctx, admin, "p"+hex.EncodeToString(sum[:12]))
	}
	if err != nil {
		tb.Fatal(err)
	}
	return url, true
}

// NewRegistry returns the search registry of the R4 base and ucp's own
// parameters.
func NewRegistry(tb testing.TB) *search.Registry {
	tb.Helper()
	reg, err := search.NewRegistry()
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

// Server is a handler served over HTTP on loopback until the test ends.
// It is net/http's own server rather than httptest's, so that this package,
// which is not a test file, is not one of the program's httptest users.
type Server struct {
	// URL is the server's root, "http://127.0.0.1:port".
	URL string
	// Base is the FHIR base URL: URL and "/fhir".
	Base   string
	client *http.Client
}

// Serve starts h on loopback. When the test ends the server stops, after
// the requests it is serving have been answered.
func Serve(tb testing.TB, h http.Handler) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	tr := &http.Transport{}
	tb.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := srv.Shutdown(context.Background()); err != nil {
			tb.Errorf("stopping the test server: %v", err)
		}
	})
	u := "http://" + ln.Addr().String()
	return &Server{URL: u, Base: u + "/fhir", client: &http.Client{Transport: tr}}
}

// Client returns a client for the server.
func (s *Server) Client() *http.Client { return s.client }

// Do sends a request to the server: a path starting with "/" is below
// Base, any other is a whole URL. Headers are "Name: value" strings, each
// added (two Prefer headers are both sent); a non-empty body is sent as
// application/fhir+json unless a header names its type.
func (s *Server) Do(tb testing.TB, method, path, body string, header ...string) *Response {
	tb.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = s.Base + path
	}
	return send(tb, s.client, method, u, body, header)
}

// Do sends a request to u with http.DefaultClient, as Server.Do does.
func Do(tb testing.TB, method, u, body string, header ...string) *Response {
	tb.Helper()
	return send(tb, http.DefaultClient, method, u, body, header)
}

func send(tb testing.TB, client *http.Client, method, u, body string, header []string) *Response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		tb.Fatal(err)
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	res, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Bearer is the Authorization header of a bearer token, for Do.
func Bearer(token string) string { return "Authorization: Bearer " + token }

// Response is an answer with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body with numbers kept as written (json.Number).
func (r *Response) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	return Decode(tb, r.Body)
}

// Want checks the status and, for an error, that the body is an
// OperationOutcome served as JSON.
func (r *Response) Want(tb testing.TB, status int) *Response {
	tb.Helper()
	if r.Status != status {
		tb.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if status >= 400 {
		m := r.JSON(tb)
		if m["resourceType"] != "OperationOutcome" {
			tb.Fatalf("error body is not an OperationOutcome: %s", r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
			tb.Fatalf("error Content-Type %q", ct)
		}
	}
	return r
}

// Decode decodes a JSON object with numbers kept as written.
func Decode(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("decoding %q: %v", b, err)
	}
	return m
}

// Path walks a decoded tree by keys and indexes: "entry.0.resource.id".
// A step that is not there gives nil.
func Path(v any, p string) any {
	for _, k := range strings.Split(p, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i := 0
			for _, c := range k {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// Str is v if it is a string, "" otherwise.
func Str(v any) string {
	s, _ := v.(string)
	return s
}

// Num is n as a decoded JSON number (see Decode).
func Num(n int) json.Number { return json.Number(fmt.Sprint(n)) }

// Ref is a FHIR Reference to r ("Patient/p1").
func Ref(r string) map[string]any { return map[string]any{"reference": r} }

// Concept is a CodeableConcept of one coding; display may be "".
func Concept(system, code, display string) map[string]any {
	c := map[string]any{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return map[string]any{"coding": []any{c}}
}

// Patient is a Patient's JSON with the NHS number nhs: Ann Smith, female,
// born 1940-02-03.
func Patient(nhs string) string {
	return `{"resourceType":"Patient","identifier":[{"system":"` + profiles.SystemNHSNumber + `","value":"` + nhs + `"}],"name":[{"family":"Smith","given":["Ann"]}],"gender":"female","birthDate":"1940-02-03"}`
}
