package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/store"
	"ucp/store/postgres"
	"ucp/store/postgres/pgtest"
)

// TestAuditPrune runs ucp audit prune on a store with AuditEvents from
// 2019 and 2024: refused without --archive, and then archiving the old
// ones, removing them and recording an AuditEvent of its own.
func TestAuditPrune(t *testing.T) {
	t.Setenv(pgtest.Env, "") // prunes a SQLite store
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "ucp.db")
	st, err := openStore(ctx, "sqlite:"+db, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, at := range []time.Time{
		time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
	} {
		id := fmt.Sprintf("e%d", i)
		if _, err := st.Write(ctx, []store.Change{{Type: "AuditEvent", ID: id, VersionID: 1, LastUpdated: at, Method: "POST",
			JSON: []byte(`{"resourceType":"AuditEvent","id":"` + id + `","meta":{"versionId":"1"}}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	prune := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"audit", "prune", "--store", "sqlite:" + db}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	for _, args := range [][]string{
		{"--before", "2020-01-01"},
		{"--before", "2020-01-01", "--archive", filepath.Join(dir, "a.ndjson"), "--no-archive"},
		{"--before", "next tuesday", "--no-archive"},
		{"--before", "2999-01-01", "--no-archive"},
	} {
		if code, _, errb := prune(args...); code != 2 || errb == "" {
			t.Errorf("ucp audit prune %v: exit %d, %q; want 2 with a reason", args, code, errb)
		}
	}
	archive := filepath.Join(dir, "audit-2019.ndjson.zst")
	code, out, errb := prune("--before", "2020-01-01", "--archive", archive)
	if code != 0 || !strings.Contains(out, "2 archived, 2 removed") {
		t.Fatalf("ucp audit prune: exit %d, %s %s", code, out, errb)
	}
	if _, err := os.Stat(archive); err != nil {
		t.Errorf("no archive: %v", err)
	}

	st, err = openStore(ctx, "sqlite:"+db, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := st.Search(ctx, store.Query{Types: []string{"AuditEvent"}, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	var prunes int
	for _, v := range res.Versions {
		left = append(left, v.ID)
		if strings.Contains(string(v.JSON), `"audit-prune"`) && strings.Contains(string(v.JSON), `"removed"`) {
			prunes++
		}
	}
	if len(left) != 2 || !slices.Contains(left, "e2") || prunes != 1 {
		t.Errorf("AuditEvents left: %v, %d of them the prune's; want e2 and the prune's own", left, prunes)
	}
	// Searchable as any AuditEvent: by its subtype.
	res, err = st.Search(ctx, store.Query{Types: []string{"AuditEvent"}, Count: 10, Where: []store.Clause{{Any: []store.Cond{{
		Param: "subtype", Type: store.Token, Code: "audit-prune"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(1, len(res.Versions)); diff != "" {
		t.Errorf("AuditEvent?subtype=audit-prune (-want +got):\n%s", diff)
	}
}
