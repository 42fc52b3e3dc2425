package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadCursorKey: the key of --cursor-key-file is the file's bytes
// without a trailing newline; a short one is refused; no file means none.
func TestReadCursorKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	long := strings.Repeat("ab", 32)
	tests := []struct {
		name, path string
		want       string
		wantErr    bool
	}{
		{"none", "", "", false},
		{"hex with newline", write("k1", long+"\n"), long, false},
		{"short", write("k2", "secret\n"), "", true},
		{"missing", filepath.Join(dir, "nope"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readCursorKey(tt.path)
			if (err != nil) != tt.wantErr || string(got) != tt.want {
				t.Errorf("readCursorKey(%q) = %q, %v; want %q, error %v", tt.path, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
