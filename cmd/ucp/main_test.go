package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTestServer boots the real wiring on a free port with a fresh SQLite file.
func startTestServer(t *testing.T, dbPath string, demo bool) *server {
	t.Helper()
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + dbPath, Demo: demo, MaxBody: 1 << 20}
	srv, err := startServer(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func get(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, body
}

func TestServeDemoEndToEnd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ucp.db")
	srv := startTestServer(t, db, true)

	if code, body := get(t, srv.base+"/metadata"); code != 200 || body["resourceType"] != "CapabilityStatement" {
		t.Fatalf("metadata: %d %v", code, body["resourceType"])
	}
	root := strings.TrimSuffix(srv.base, "/fhir")
	if code, body := get(t, root+"/healthz"); code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, body)
	}

	// The urgent-care question: does this NHS number have an active plan?
	q := url.Values{
		"subject:identifier": {"https://fhir.nhs.uk/Id/nhs-number|9434765919"},
		"status":             {"active"},
	}
	code, bundle := get(t, srv.base+"/CarePlan?"+q.Encode())
	if code != 200 {
		t.Fatalf("search: %d %v", code, bundle)
	}
	if total, _ := bundle["total"].(float64); total != 1 {
		t.Fatalf("active plans for the demo patient = %v, want 1", bundle["total"])
	}
	entry := bundle["entry"].([]any)[0].(map[string]any)
	plan := entry["resource"].(map[string]any)
	subject := plan["subject"].(map[string]any)["reference"].(string)
	if !strings.HasPrefix(subject, "Patient/") {
		t.Errorf("urn:uuid reference not rewritten: subject = %q", subject)
	}
	if code, p := get(t, srv.base+"/"+subject); code != 200 || p["birthDate"] != "1940-02-03" {
		t.Errorf("GET %s: %d %v", subject, code, p["birthDate"])
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	// Loading the demo again on restart changes nothing: its entries are
	// conditional creates.
	srv = startTestServer(t, db, true)
	defer srv.Close()
	_, bundle = get(t, srv.base+"/CarePlan?"+q.Encode())
	if total, _ := bundle["total"].(float64); total != 1 {
		t.Errorf("after a second demo load: %v active plans, want 1", bundle["total"])
	}
	_, bundle = get(t, srv.base+"/Patient?_summary=count")
	if total, _ := bundle["total"].(float64); total != 1 {
		t.Errorf("after a second demo load: %v patients, want 1", bundle["total"])
	}
}

// TestServeShutsDownOnCancel checks that the serve command stops cleanly
// (exit 0) when its context ends, as it does on SIGINT or SIGTERM.
func TestServeShutsDownOnCancel(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ucp.db")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--store", "sqlite:" + db}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), "serving FHIR R4") {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop")
	}
}

func TestServeFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"unknown command", []string{"frobnicate"}, 2},
		{"no command", nil, 2},
		{"bad flag", []string{"serve", "--nope"}, 2},
		{"bad store kind", []string{"serve", "--addr", "127.0.0.1:0", "--store", "postgres:x"}, 1},
		{"store without path", []string{"serve", "--addr", "127.0.0.1:0", "--store", "sqlite:"}, 1},
		{"bad log level", []string{"serve", "--log-level", "loud"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(context.Background(), tt.args, &out, &errb); got != tt.want {
				t.Errorf("exit %d, want %d (stderr %q)", got, tt.want, errb.String())
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe to write from the server goroutine
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
