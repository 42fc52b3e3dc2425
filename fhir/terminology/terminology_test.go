package terminology_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/fhir/terminology"
	"ucp/store"
	"ucp/store/sqlite"
)

// newStore stores the resources with their index entries, as the server would.
func newStore(t *testing.T, reg *search.Registry, docs ...string) store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var changes []store.Change
	for _, d := range docs {
		res, err := resource.Parse([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		resource.SetMeta(res, resource.ID(res), 1, now)
		entries, patients, err := reg.Extract(res)
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, store.Change{Type: resource.Type(res), ID: resource.ID(res), VersionID: 1, LastUpdated: now,
			Method: "PUT", JSON: resource.Marshal(res), Entries: entries, Patients: patients})
	}
	if _, err := st.Write(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	return st
}

const (
	places = `{"resourceType":"CodeSystem","id":"places","url":"https://x.org/cs/places","status":"active","content":"complete",
		"concept":[{"code":"home","concept":[{"code":"own-home"},{"code":"other-home"}]},{"code":"hospice"},{"code":"hospital"}]}`
	community = `{"resourceType":"ValueSet","id":"community","url":"https://x.org/vs/community","status":"active",
		"compose":{"include":[{"system":"https://x.org/cs/places","filter":[{"property":"concept","op":"is-a","value":"home"}]},
		                      {"system":"https://x.org/cs/places","concept":[{"code":"hospice"}]}]}}`
	notHospital = `{"resourceType":"ValueSet","id":"not-hospital","url":"https://x.org/vs/not-hospital","status":"active",
		"compose":{"include":[{"system":"https://x.org/cs/places"}],"exclude":[{"system":"https://x.org/cs/places","concept":[{"code":"hospital"}]}]}}`
)

func TestSource(t *testing.T) {
	ctx := context.Background()
	reg, err := search.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	src := &terminology.Source{Store: newStore(t, reg, places, community, notHospital)}
	codes := func(cs []search.Coding) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Code)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name string
		got  func() ([]string, error)
		want []string
	}{
		{"is-a filter and a listed concept", func() ([]string, error) {
			c, err := src.Expand(ctx, "https://x.org/vs/community")
			return codes(c), err
		},
			[]string{"home", "hospice", "other-home", "own-home"}},
		{"whole system minus an exclude", func() ([]string, error) {
			c, err := src.Expand(ctx, "https://x.org/vs/not-hospital|1.0")
			return codes(c), err
		},
			[]string{"home", "hospice", "other-home", "own-home"}},
		{"descendants", func() ([]string, error) {
			d, err := src.Descendants(ctx, "https://x.org/cs/places", "home")
			slices.Sort(d)
			return d, err
		},
			[]string{"other-home", "own-home"}},
		{"ancestors", func() ([]string, error) {
			return src.Ancestors(ctx, "https://x.org/cs/places", "own-home")
		},
			[]string{"home"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	for _, bad := range []func() error{
		func() error { _, err := src.Expand(ctx, "https://x.org/vs/missing"); return err },
		func() error {
			_, err := src.Descendants(ctx, "https://x.org/cs/places", "nowhere")
			return err
		},
		func() error {
			_, err := src.Ancestors(ctx, "https://x.org/cs/missing", "home")
			return err
		},
	} {
		if err := bad(); outcome.KindOf(err) != outcome.Invalid {
			t.Errorf("want an Invalid error, got %v", err)
		}
	}

	// Through search: code:in and code:below become token conditions.
	reg.SetTerminology(src)
	req, err := reg.Parse(ctx, "Observation", map[string][]string{"value-concept:in": {"https://x.org/vs/community"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(req.Query.Where[0].Any); n != 4 {
		t.Errorf("value-concept:in expanded to %d conditions, want 4", n)
	}
	if _, err := reg.Parse(ctx, "Observation", map[string][]string{"value-concept:below": {"https://x.org/cs/places|home"}}, true); err != nil {
		t.Errorf("value-concept:below: %v", err)
	}
}

// A search's terminology reads run under the request's context, so a
// request that has gone away stops reading, and its error is the context's,
// not a client's Invalid.
func TestSourceUsesTheRequestContext(t *testing.T) {
	reg, err := search.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	reg.SetTerminology(&terminology.Source{Store: newStore(t, reg, places, community)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = reg.Parse(ctx, "Observation", map[string][]string{"value-concept:in": {"https://x.org/vs/community"}}, true)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Parse under a cancelled context: got %v, want context.Canceled", err)
	}
	if k := outcome.KindOf(err); k == outcome.Invalid {
		t.Errorf("Parse under a cancelled context: kind %v, want not Invalid", k)
	}
}
