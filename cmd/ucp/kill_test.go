package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"ucp/internal/resttest"
	"ucp/profiles"
)

// TestServeWritesSurviveKill writes Patients from 8 clients at once (so the
// store commits them in groups), kills the server with SIGKILL in the
// middle, restarts it on the same file and reads back every write that was
// answered 2xx before the kill.
func TestServeWritesSurviveKill(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ucp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "ucp.db")
	start := func() (*exec.Cmd, string) {
		t.Helper()
		cmd := exec.Command(bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--store", "sqlite:"+db)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, after, ok := strings.Cut(sc.Text(), "serving FHIR R4 at "); ok {
				go io.Copy(io.Discard, stdout)
				return cmd, strings.Fields(after)[0]
			}
		}
		t.Fatal("the server stopped before serving")
		return nil, ""
	}
	cmd, base := start()
	tok := devToken(t, bin, base)

	const clients, before = 8, 200
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("kill-%d-%d", c, n)
				body := fmt.Sprintf(`{"resourceType":"Patient","id":%q,"gender":"female","birthDate":"1940-01-01",`+
					`"identifier":[{"system":%q,"value":%q}],"name":[{"family":"Kill","given":["Test"]}]}`,
					id, profiles.SystemNHSNumber, benchNHSNumber(int64(c*100_000+n)))
				req, _ := http.NewRequest(http.MethodPut, base+"/Patient/"+id, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/fhir+json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server is gone
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					return
				}
				if resp.StatusCode/100 != 2 {
					t.Errorf("PUT Patient/%s: %d", id, resp.StatusCode)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				if len(acked) == before {
					close(stop)
				}
				mu.Unlock()
			}
		}()
	}
	<-stop
	// Writes are still in flight: the kill lands among them.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()
	if t.Failed() {
		return
	}

	_, base = start()
	tok = devToken(t, bin, base)
	lost := 0
	for _, id := range acked {
		if r := resttest.Do(t, http.MethodGet, base+"/Patient/"+id, "", resttest.Bearer(tok)); r.Status != http.StatusOK {
			lost++
			t.Errorf("Patient/%s, answered 2xx before the kill: %d after the restart", id, r.Status)
		}
	}
	t.Logf("%d writes answered before the kill, %d lost", len(acked), lost)
}
