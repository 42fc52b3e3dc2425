package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"ucp/auth"
	"ucp/auth/devissuer"
)

// TestServeCursorIsTheCallers: a search's next link works for the clinician
// it was given to and is refused (400) to another, through the real wiring
// (the verified principal names the caller).
func TestServeCursorIsTheCallers(t *testing.T) {
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true, DemoPatients: 2,
		MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
	srv := serveTest(t, cfg)
	tokenFor := func(user string) string {
		tok, err := srv.dev.Mint(devissuer.TokenRequest{Role: auth.RoleClinical, User: user})
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	alice, bob := tokenFor("alice"), tokenFor("bob")

	code, _, b := call(t, "GET", srv.base+"/Patient?_count=1", alice, nil)
	if code != 200 {
		t.Fatalf("search: %d %s", code, b)
	}
	var bundle struct {
		Link []struct{ Relation, URL string }
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	next := ""
	for _, l := range bundle.Link {
		if l.Relation == "next" {
			next = l.URL
		}
	}
	if next == "" {
		t.Fatalf("no next link: %s", b)
	}
	if code, _, b := call(t, "GET", next, bob, nil); code != 400 {
		t.Errorf("another clinician's cursor: %d %s, want 400", code, b)
	}
	if code, _, b := call(t, "GET", next, alice, nil); code != 200 {
		t.Errorf("own cursor: %d %s, want 200", code, b)
	}
	if code, _, b := call(t, "GET", next, tokenFor("alice"), nil); code != 200 {
		t.Errorf("own cursor with a new token: %d %s, want 200", code, b)
	}
}
