package storetest

import (
	"fmt"
	"slices"
	"testing"

	"ucp/store"
)

// includer returns s as an Includer, skipping the test when it is not one.
func includer(t *testing.T, s store.Store) store.Includer {
	r, ok := s.(store.Includer)
	if !ok {
		t.Skip("store does not implement store.Includer")
	}
	return r
}

func testIncluded(t *testing.T, s store.Store) {
	inc := includer(t, s)
	for _, typ := range []string{"Patient", "Practitioner"} {
		put(t, s, typ, "p1")
	}
	put(t, s, "Patient", "p2")
	put(t, s, "Goal", "g1")
	put(t, s, "Goal", "g2")
	put(t, s, "Goal", "gone")
	mustWrite(t, s, deletion("Goal", "gone", 2))
	put(t, s, "CarePlan", "cp1",
		ref("subject", "Patient", "p1"),
		ref("goal", "Goal", "g1"),
		ref("goal", "Goal", "gone"),    // deleted: left out
		ref("goal", "Goal", "missing"), // never existed: left out
		ref("goal", "Goal", "g1"),      // twice: once
		ref("author", "Practitioner", "p1"),
		store.Entry{Param: "instantiates", Type: store.Reference, URL: "https://example.org/PlanDefinition/x"},
		tok("status", "", "active"))
	put(t, s, "CarePlan", "cp2", ref("subject", "Patient", "p2"), ref("goal", "Goal", "g2"))
	put(t, s, "CarePlan", "cp3", ref("subject", "Patient", "p1"))
	mustWrite(t, s, deletion("CarePlan", "cp3", 2))

	cp := func(id string) store.Ref { return store.Ref{Type: "CarePlan", ID: id} }
	path := func(src, param, target string) store.IncludePath {
		return store.IncludePath{SourceType: src, Param: param, TargetType: target}
	}
	for _, tc := range []struct {
		name  string
		from  []store.Ref
		paths []store.IncludePath
		want  []string // Path: From > Version, in order
	}{
		{"one parameter", []store.Ref{cp("cp1")}, []store.IncludePath{path("CarePlan", "goal", "")}, []string{"0:CarePlan/cp1>Goal/g1"}},
		{"page order then entry order", []store.Ref{cp("cp2"), cp("cp1")}, []store.IncludePath{path("", "*", "")},
			[]string{"0:CarePlan/cp2>Patient/p2", "0:CarePlan/cp2>Goal/g2", "0:CarePlan/cp1>Patient/p1", "0:CarePlan/cp1>Goal/g1", "0:CarePlan/cp1>Practitioner/p1"}},
		{"target type", []store.Ref{cp("cp1"), cp("cp2")}, []store.IncludePath{path("CarePlan", "*", "Patient")},
			[]string{"0:CarePlan/cp1>Patient/p1", "0:CarePlan/cp2>Patient/p2"}},
		{"parameter and target type", []store.Ref{cp("cp1")}, []store.IncludePath{path("", "author", "Patient")}, nil},
		{"path order first", []store.Ref{cp("cp1"), cp("cp2")}, []store.IncludePath{path("CarePlan", "subject", ""), path("CarePlan", "goal", "Goal")},
			[]string{"0:CarePlan/cp1>Patient/p1", "0:CarePlan/cp2>Patient/p2", "1:CarePlan/cp1>Goal/g1", "1:CarePlan/cp2>Goal/g2"}},
		{"one target through two paths", []store.Ref{cp("cp1")}, []store.IncludePath{path("CarePlan", "goal", ""), path("", "*", "Goal")},
			[]string{"0:CarePlan/cp1>Goal/g1", "1:CarePlan/cp1>Goal/g1"}},
		{"source type", []store.Ref{cp("cp1"), {Type: "Goal", ID: "g1"}}, []store.IncludePath{path("Goal", "*", "")}, nil},
		{"deleted and missing sources", []store.Ref{cp("cp3"), {Type: "CarePlan", ID: "nope"}, {Type: "Goal", ID: "g1"}}, []store.IncludePath{path("", "*", "")}, nil},
		{"no sources", nil, []store.IncludePath{path("", "*", "")}, nil},
		{"no paths", []store.Ref{cp("cp1")}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := inc.Included(ctx, tc.from, tc.paths)
			if err != nil {
				t.Fatal(err)
			}
			var links []string
			for _, in := range got {
				links = append(links, fmt.Sprintf("%d:%s>%s/%s", in.Path, in.From, in.Version.Type, in.Version.ID))
				if in.Version.Deleted || len(in.Version.JSON) == 0 || in.Version.VersionID != 1 || in.Version.LastUpdated.IsZero() {
					t.Errorf("%s: incomplete version %+v", in.Version.Type+"/"+in.Version.ID, in.Version)
				}
			}
			if !slices.Equal(links, tc.want) {
				t.Errorf("got %v, want %v", links, tc.want)
			}
		})
	}

	// The current version's references count, not an earlier one's.
	mustWrite(t, s, change("CarePlan", "cp2", 2, ref("subject", "Patient", "p1")))
	got, err := inc.Included(ctx, []store.Ref{cp("cp2")}, []store.IncludePath{path("", "*", "")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Version.ID != "p1" || got[0].Version.Type != "Patient" {
		t.Errorf("after update: %+v", got)
	}

	_, err = inc.Included(ctx, []store.Ref{{Type: "CarePlan"}}, []store.IncludePath{path("", "*", "")})
	wantKind(t, err, store.Invalid)
	_, err = inc.Included(ctx, []store.Ref{cp("cp1")}, []store.IncludePath{path("", "", "")})
	wantKind(t, err, store.Invalid)
}
