package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
