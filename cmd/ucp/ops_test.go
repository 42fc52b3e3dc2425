package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"ucp/auth"
	"ucp/store/postgres/pgtest"
)

// TestServeRefusesWrongConfigFiles checks that serve will not start on a
// --roles or --clients file with a mistake, and says where it is.
func TestServeRefusesWrongConfigFiles(t *testing.T) {
	dir := t.TempDir()
	for _, test := range []struct {
		name, flag, content, want string
	}{
		{"roles with a misspelt role", "--roles", "{\"codes\": {\n  \"R8000\": \"clincal\"\n}}", `roles.json:2:12: code "R8000": unknown role "clincal"`},
		{"roles with an unknown field", "--roles", "{\"code\": {\"R8000\": \"clinical\"}}", `roles.json:1:2: unknown field "code"`},
		{"clients with a misspelt member", "--clients", "[\n  {\"client_id\": \"cad\", \"scopes\": \"system/*.rs\"}\n]", `clients.json:2:24: unknown field "scopes"`},
	} {
		t.Run(test.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.TrimPrefix(test.flag, "--")+".json")
			if err := os.WriteFile(file, []byte(test.content), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--store", "sqlite:" + filepath.Join(dir, "ucp.db"), test.flag, file}
			code, _, errb := runUntilServing(t, args)
			if code != 1 {
				t.Fatalf("exit %d, want 1 (stderr %s)", code, errb)
			}
			// The log quotes the error: undo its escaping.
			if got := strings.ReplaceAll(errb, `\"`, `"`); !strings.Contains(got, test.want) {
				t.Errorf("stderr %s does not say %s", got, test.want)
			}
		})
	}
}

// runUntilServing runs the command; if it starts serving it is stopped at
// once. It returns the exit code, stdout and stderr.
func runUntilServing(t *testing.T, args []string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr) }()
	for {
		select {
		case code := <-done:
			return code, stdout.String(), stderr.String()
		case <-time.After(20 * time.Millisecond):
			if strings.Contains(stdout.String(), "serving FHIR R4") {
				cancel()
				return <-done, stdout.String(), stderr.String()
			}
		}
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files in dir, and returns their paths and a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ucp test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
		TLSCert: certFile, TLSKey: keyFile}
	srv := serveTest(t, cfg)
	if !strings.HasPrefix(srv.base, "https://127.0.0.1:") {
		t.Errorf("base %q, want https://127.0.0.1:…", srv.base)
	}
	client := func(maxVersion uint16) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: maxVersion}}}
	}

	// A token from the development issuer, itself served over TLS, reads
	// through the TLS listener.
	req, _ := http.NewRequest(http.MethodGet, srv.base+"/Patient?_summary=count", nil)
	req.Header.Set("Authorization", "Bearer "+token(t, srv, auth.RoleView))
	resp, err := client(0).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET Patient over TLS: %d", resp.StatusCode)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("connection state %+v, want TLS 1.2 or later", resp.TLS)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q, want max-age=…", got)
	}

	// TLS 1.1 is refused in the handshake.
	if resp, err := client(tls.VersionTLS11).Get(srv.base + "/metadata"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
	// Plain HTTP is not served on the TLS port.
	plain := "http://" + strings.TrimPrefix(srv.base, "https://")
	if resp, err := http.Get(plain + "/metadata"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was served on the TLS port")
		}
	}
}

func TestServeTLSFlags(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	db := "sqlite:" + filepath.Join(dir, "ucp.db")
	for _, test := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert", certFile}, "--tls-cert and --tls-key go together"},
		{"key without cert", []string{"--tls-key", keyFile}, "--tls-cert and --tls-key go together"},
		{"key is not the cert's", []string{"--tls-cert", certFile, "--tls-key", certFile}, "--tls-cert/--tls-key:"},
	} {
		t.Run(test.name, func(t *testing.T) {
			args := append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--store", db}, test.args...)
			code, _, stderr := runUntilServing(t, args)
			if code != 1 || !strings.Contains(stderr, test.want) {
				t.Errorf("exit %d, stderr %s; want exit 1 saying %s", code, stderr, test.want)
			}
		})
	}
}

// TestBackupAndRestore backs up a running server, restores the backup as
// the README says into a new folder, and starts a server on it: the data,
// the audit of what was done before the backup, and the signing key are all
// there. A second backup to the same name is refused.
func TestBackupAndRestore(t *testing.T) {
	t.Setenv(pgtest.Env, "") // ucp backup copies a SQLite store: this test keeps one
	dir := t.TempDir()
	db := filepath.Join(dir, "live", "ucp.db")
	srv := startTestServer(t, db, false)
	issuer := srv.dev.URL()
	clinical := token(t, srv, auth.RoleClinical)
	code, hdr, _ := call(t, http.MethodPost, srv.base+"/Patient", clinical,
		[]byte(`{"resourceType":"Patient","name":[{"family":"Backup"}],"gender":"female","birthDate":"1951-04-02"}`), "Content-Type: application/fhir+json")
	if code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	loc := hdr.Get("Location")
	patient := loc[strings.Index(loc, "Patient/"):strings.Index(loc, "/_history")]
	for range 3 {
		if code, _, _ := call(t, http.MethodGet, srv.base+"/"+patient, clinical, nil); code != http.StatusOK {
			t.Fatalf("read: %d", code)
		}
	}
	_, _, jwks := call(t, http.MethodGet, strings.TrimSuffix(srv.base, "/fhir")+"/auth/jwks", "", nil)

	backup := filepath.Join(dir, "backup.db")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"backup", "--store", "sqlite:" + db, "--to", backup}, &out, &errb); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"backup", "--store", "sqlite:" + db, "--to", backup}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "already exists") {
		t.Errorf("a second backup to the same file: exit %d: %s", code, errb.String())
	}
	// Written after the backup: not in the restored store.
	if code, _, _ := call(t, http.MethodPost, srv.base+"/Patient", clinical,
		[]byte(`{"resourceType":"Patient","name":[{"family":"Later"}]}`), "Content-Type: application/fhir+json"); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	// Restore, as in the README.
	restored := filepath.Join(dir, "restored")
	for from, to := range map[string]string{
		backup:                     filepath.Join(restored, "ucp.db"),
		backup + ".server-key.pem": filepath.Join(restored, "server-key.pem"),
		backup + ".oidc-key.pem":   filepath.Join(restored, "oidc-key.pem"),
		backup + ".audit.journal":  filepath.Join(restored, "audit", "audit.journal"),
		auditStorePath(backup):     filepath.Join(restored, "ucp-audit.db"),
	} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv = startTestServer(t, filepath.Join(restored, "ucp.db"), false)
	defer srv.Close()
	admin, clinical := token(t, srv, auth.RoleAdmin), token(t, srv, auth.RoleClinical)
	if code, _, _ := call(t, http.MethodGet, srv.base+"/"+patient, clinical, nil); code != http.StatusOK {
		t.Errorf("restored: read %s: %d", patient, code)
	}
	_, _, b := call(t, http.MethodGet, srv.base+"/Patient?family=later&_summary=count", clinical, nil)
	if !strings.Contains(string(b), `"total":0`) {
		t.Errorf("restored: a patient created after the backup is there: %s", b)
	}
	// Each of the four interactions before the backup is audited once: the
	// reads still in the journal when it was copied are replayed at start.
	if _, err := srv.audit.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	mine := "agent:identifier=" + url.QueryEscape(issuer+"|dev-user") + "&entity=" + url.QueryEscape(patient) + "&_summary=count"
	_, _, b = call(t, http.MethodGet, srv.base+"/AuditEvent?"+mine, admin, nil)
	if !strings.Contains(string(b), `"total":4`) {
		t.Errorf("restored: AuditEvents of the create and three reads: %s, want 4", b)
	}
	if _, _, got := call(t, http.MethodGet, strings.TrimSuffix(srv.base, "/fhir")+"/auth/jwks", "", nil); string(got) != string(jwks) {
		t.Errorf("restored: signing keys %s, want the backed-up %s", got, jwks)
	}
}

// scrape GETs a /metrics URL without a token and parses it.
func scrape(t *testing.T, u string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s %s", u, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// requestCounts are the request histogram's counts by
// "interaction type status".
func requestCounts(fams map[string]*dto.MetricFamily) map[string]uint64 {
	got := map[string]uint64{}
	f := fams["ucp_http_request_duration_seconds"]
	if f == nil {
		return got
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["interaction"]+" "+labels["type"]+" "+labels["status"]] = m.GetHistogram().GetSampleCount()
	}
	return got
}

func TestServeMetrics(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ucp.db")
	srv := startTestServer(t, db, false)
	defer srv.Close()
	clinical := token(t, srv, auth.RoleClinical)
	code, hdr, _ := call(t, http.MethodPost, srv.base+"/Patient", clinical,
		[]byte(`{"resourceType":"Patient","name":[{"family":"Metrics"}],"gender":"female","birthDate":"1951-04-02"}`), "Content-Type: application/fhir+json")
	if code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	loc := hdr.Get("Location")
	id := loc[strings.Index(loc, "Patient/")+len("Patient/") : strings.Index(loc, "/_history")]
	for range 2 {
		call(t, http.MethodGet, srv.base+"/Patient/"+id, clinical, nil)
	}
	call(t, http.MethodGet, srv.base+"/Patient/no-such-patient", clinical, nil)
	call(t, http.MethodGet, srv.base+"/Patient?family=metrics", clinical, nil)
	call(t, http.MethodGet, srv.base+"/Patient/"+id+"/$everything", clinical, nil)

	root := strings.TrimSuffix(srv.base, "/fhir")
	fams := scrape(t, root+"/metrics")
	got := requestCounts(fams)
	want := map[string]uint64{
		"create Patient 201":      1,
		"read Patient 200":        2,
		"read Patient 404":        1,
		"search-type Patient 200": 1,
		"$everything Patient 200": 1,
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			delete(got, k) // the server's own start-up requests, /healthz and the like
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request counts mismatch (-want +got):\n%s", diff)
	}
	// Labels are types, never ids: nothing in the metrics names the
	// patient.
	_, _, body := call(t, http.MethodGet, root+"/metrics", "", nil)
	if strings.Contains(string(body), id) || strings.Contains(string(body), "no-such-patient") || strings.Contains(string(body), "Metrics") {
		t.Errorf("the metrics name a resource:\n%s", body)
	}
	for _, name := range []string{"ucp_audit_journal_pending_events", "ucp_store_size_bytes"} {
		f := fams[name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Errorf("no %s", name)
			continue
		}
		if v := f.GetMetric()[0].GetGauge().GetValue(); v < 0 || name == "ucp_store_size_bytes" && v == 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
}

func TestServeMetricsOnItsOwnListener(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3, MetricsAddr: addr}
	srv := serveTest(t, cfg)
	if fams := scrape(t, "http://"+addr+"/metrics"); fams["ucp_store_size_bytes"] == nil {
		t.Error("no store size on --metrics-addr")
	}
	if code, _, _ := call(t, http.MethodGet, strings.TrimSuffix(srv.base, "/fhir")+"/metrics", "", nil); code != http.StatusNotFound {
		t.Errorf("/metrics beside the API with --metrics-addr: %d, want 404", code)
	}
}

// TestServeBannerNamesThisBinary checks that the token command the banner
// suggests runs this binary as it was invoked (./bin/ucp under make run),
// not a "ucp" that may not be on the PATH.
func TestServeBannerNamesThisBinary(t *testing.T) {
	args := []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--store", "sqlite:" + filepath.Join(t.TempDir(), "ucp.db")}
	code, stdout, stderr := runUntilServing(t, args)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := os.Args[0] + " token --server "; !strings.Contains(stdout, want) {
		t.Errorf("banner does not say %q:\n%s", want, stdout)
	}
}

// TestMakeTestFindsTheSharedSuites checks that make test points the
// official suites' variables at ../shared when it is beside the clone, as
// .ci/run did, so that a plain make test runs them.
func TestMakeTestFindsTheSharedSuites(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(filepath.Dir(root), "shared")
	want := map[string]string{
		"FHIRPATH_TESTS": filepath.Join(shared, "fhirpath-tests"),
		"PATCH_TESTS":    filepath.Join(shared, "patch-tests"),
		"FHIR_EXAMPLES":  filepath.Join(shared, "fhir-r4-examples"),
		"NRL_SPEC":       filepath.Join(shared, "specs", "nrl-producer.yaml"),
	}
	for _, dir := range want {
		if _, err := os.Stat(dir); err != nil {
			t.Skipf("no %s beside the clone", dir)
		}
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	// test-env prints the variables as make test's recipes see them; it
	// needs nothing built, so this runs on a fresh clone.
	cmd := exec.Command("make", "-s", "--no-print-directory", "-C", root, "test-env")
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); want[name] == "" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make test-env: %v\n%s", err, out)
	}
	got := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if name, value, ok := strings.Cut(strings.TrimSpace(line), "="); ok && want[name] != "" {
			got[name] = value
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("make test's suite variables mismatch (-want +got):\n%s", diff)
	}
}

// TestReadmeApproveExample runs the README's worked example of approving a
// plan, as written, against a real server, so the README cannot drift from
// what the server does.
func TestReadmeApproveExample(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- approve-example:")
	if !ok {
		t.Fatal("README has no approve-example block")
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	script, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README's approve-example block is not closed")
	}

	srv := startTestServer(t, filepath.Join(t.TempDir(), "ucp.db"), false)
	defer srv.Close()
	clinical := token(t, srv, auth.RoleClinical)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BASE="+srv.base, "TOKEN="+clinical)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's example failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if !strings.Contains(string(out), "\n422 refused\n") || !strings.Contains(string(out), "CPR decision") {
		t.Errorf("the README's approval without sections was not refused (422) naming them:\n%s", out)
	}

	// The plan is active, and its approval recorded.
	code, _, body := call(t, http.MethodGet, srv.base+"/CarePlan/ex-careplan-draft", clinical, nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"status":"active"`) {
		t.Errorf("after the example: CarePlan %d %s, want it active", code, body)
	}
	_, _, body = call(t, http.MethodGet, srv.base+"/Provenance?target=CarePlan/ex-careplan-draft&_summary=count", clinical, nil)
	if !strings.Contains(string(body), `"total":1`) {
		t.Errorf("after the example: Provenance of the approval: %s, want one", body)
	}
}
