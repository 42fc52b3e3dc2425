package store_test

import (
	"errors"
	"fmt"
	"testing"

	"ucp/store"
)

func TestVersionMemo(t *testing.T) {
	version := func(n int64, body string) *store.Version {
		return &store.Version{Type: "CarePlan", ID: "cp1", VersionID: n, JSON: []byte(body)}
	}
	type registry struct{ name string }
	a, b := &registry{"a"}, &registry{"b"}
	var m store.VersionMemo[string]
	derivations := 0
	get := func(scope any, v *store.Version) string {
		t.Helper()
		got, err := m.Get(scope, v, func() (string, error) {
			derivations++
			return fmt.Sprintf("%d:%s", v.VersionID, v.JSON), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, tc := range []struct {
		name    string
		scope   any
		v       *store.Version
		want    string
		derived bool
	}{
		{"first", a, version(1, "x"), "1:x", true},
		{"again", a, version(1, "x"), "1:x", false},
		{"next version", a, version(2, "x"), "2:x", true},
		{"same version, other content (another store)", a, version(1, "y"), "1:y", true},
		{"same content, other length", a, version(1, "xx"), "1:xx", true},
		{"other scope", b, version(1, "x"), "1:x", true},
		{"no scope", nil, version(1, "x"), "1:x", true},
		{"no scope again", nil, version(1, "x"), "1:x", false},
		{"a scope that cannot be a key", []string{"a"}, version(1, "x"), "1:x", true},
		{"nor remembered under it", []string{"a"}, version(1, "x"), "1:x", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := derivations
			if got := get(tc.scope, tc.v); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if derived := derivations > before; derived != tc.derived {
				t.Errorf("derived %v, want %v", derived, tc.derived)
			}
		})
	}

	t.Run("errors are not remembered", func(t *testing.T) {
		var m store.VersionMemo[int]
		v := version(1, "z")
		if _, err := m.Get(nil, v, func() (int, error) { return 0, errors.New("unreadable") }); err == nil {
			t.Fatal("the derivation's error was not returned")
		}
		got, err := m.Get(nil, v, func() (int, error) { return 7, nil })
		if err != nil || got != 7 {
			t.Errorf("after an error: %d, %v; want 7", got, err)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		m := store.VersionMemo[int]{Max: 8}
		for i := range 100 {
			m.Get(nil, version(int64(i), "x"), func() (int, error) { return i, nil })
			if m.Len() > 8 {
				t.Fatalf("%d entries after %d versions, want at most 8", m.Len(), i+1)
			}
		}
	})
}
