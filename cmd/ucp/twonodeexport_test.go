package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/auth/devissuer"
	"ucp/internal/resttest"
)

// serveProcesses builds ucp from this package once and returns a function
// that starts a `ucp serve` process on the database db, trusting the issuer
// iss (audience aud, role codes in the file roles), and returns its FHIR
// base. Each process has a data folder of its own: nothing is shared but
// the database and the issuer. They are stopped at the end of the test.
func serveProcesses(t *testing.T, db, iss, aud, roles string) func(name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ucp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return func(name string) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), name)
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--store", db, "--data-dir", dir, "--dev",
			"--oidc-issuer", iss, "--oidc-audience", aud, "--roles", roles, "--log-level", "warn")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		})
		// The banner names the address once the server listens; reading
		// the rest keeps the pipe from filling.
		banner := regexp.MustCompile(`ucp is serving FHIR R4 at (\S+)`)
		lines := bufio.NewScanner(out)
		base := ""
		for base == "" && lines.Scan() {
			if m := banner.FindStringSubmatch(lines.Text()); m != nil {
				base = m[1]
			}
		}
		go io.Copy(io.Discard, out)
		if base == "" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("ucp serve (%s) ended without serving:\n%s", name, stderr.String())
		}
		return base
	}
}

// TestTwoProcessesShareExports runs a Bulk Data export across two real
// `ucp serve` processes on one database: kicked off on node A, polled and
// downloaded on node B, deleted on B, and then gone on A too.
func TestTwoProcessesShareExports(t *testing.T) {
	db, ok := resttest.PostgresURL(t)
	if !ok {
		t.Skip("against PostgreSQL only (make test-postgres)")
	}
	iss, aud, roles := sharedIssuer(t)
	start := serveProcesses(t, db, iss.URL(), aud, roles)
	a, b := start("a"), start("b")
	// Both nodes trust the issuer, so one token is one caller on both: the
	// owner of the job. A clinician exports a Group (a caseload).
	clinical := sharedToken(t, iss)
	minted, err := iss.Mint(devissuer.TokenRequest{Role: auth.RoleClinical, RoleCode: "R8000", User: "another-clinician"})
	if err != nil {
		t.Fatal(err)
	}
	other := minted.AccessToken
	const patients = 3
	var members []any
	for range patients {
		body := []byte(`{"resourceType":"Patient","gender":"female","birthDate":"1940-02-03","name":[{"family":"Node","given":["Ann"]}]}`)
		code, h, b := call(t, "POST", a+"/Patient", clinical, body, "Content-Type: application/fhir+json")
		if code != http.StatusCreated {
			t.Fatalf("POST Patient: %d %s", code, b)
		}
		id := strings.Split(strings.TrimPrefix(h.Get("Location"), a+"/Patient/"), "/")[0]
		members = append(members, map[string]any{"entity": map[string]any{"reference": "Patient/" + id}})
		cond := []byte(`{"resourceType":"Condition","code":{"text":"Frailty"},"subject":{"reference":"Patient/` + id + `"}}`)
		if code, _, b := call(t, "POST", a+"/Condition", clinical, cond, "Content-Type: application/fhir+json"); code != http.StatusCreated {
			t.Fatalf("POST Condition: %d %s", code, b)
		}
	}
	group, _ := json.Marshal(map[string]any{"resourceType": "Group", "type": "person", "actual": true, "name": "Caseload", "member": members})
	code, h, body := call(t, "POST", a+"/Group", clinical, group, "Content-Type: application/fhir+json")
	if code != http.StatusCreated {
		t.Fatalf("POST Group: %d %s", code, body)
	}
	gid := strings.Split(strings.TrimPrefix(h.Get("Location"), a+"/Group/"), "/")[0]
	owner := clinical // the job's owner
	code, h, body = call(t, "GET", a+"/Group/"+gid+"/$export?_type=Condition", owner, nil, "Prefer: respond-async")
	loc := h.Get("Content-Location")
	if code != http.StatusAccepted || !strings.HasPrefix(loc, a+"/_bulk/") {
		t.Fatalf("kick-off on A: %d %q %s", code, loc, body)
	}
	onB := func(u string) string { return b + strings.TrimPrefix(u, a) }
	man := awaitExport(t, onB(loc), owner)
	n := 0
	for _, f := range man.Output {
		if f.Type != "Condition" {
			t.Errorf("a %s file in an export of Condition", f.Type)
		}
		n += len(download(t, onB(f.URL), owner))
	}
	if n != patients || len(man.Output) == 0 {
		t.Errorf("downloaded %d Conditions from B in %d files, want %d", n, len(man.Output), patients)
	}
	// Someone else asking B: as if there were no such job.
	if code, _, _ := call(t, "GET", onB(loc), other, nil); code != http.StatusNotFound {
		t.Errorf("another caller polls B: %d, want 404", code)
	}
	if code, _, b := call(t, "DELETE", onB(loc), owner, nil); code != http.StatusAccepted {
		t.Fatalf("DELETE on B: %d %s", code, b)
	}
	if code, _, _ := call(t, "GET", loc, owner, nil); code != http.StatusNotFound {
		t.Errorf("status on A after the DELETE on B: %d, want 404", code)
	}
	if code, _, _ := call(t, "GET", man.Output[0].URL, owner, nil); code != http.StatusNotFound {
		t.Errorf("a file on A after the DELETE on B: %d, want 404", code)
	}
}
