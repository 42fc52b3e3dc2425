package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/store"
	"ucp/store/sqlite"
	"ucp/store/storetest"
)

func TestConformanceCompressed(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.OpenWith(filepath.Join(t.TempDir(), "ucp.db"), sqlite.Options{CompressJSON: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestCompressedJSONAsWritten checks that a store opened with CompressJSON
// keeps zstd frames on disk, returns every byte as written through each
// read path, and still reads the rows a plain store wrote into the file.
func TestCompressedJSONAsWritten(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ucp.db")
	lu := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	plainBody := []byte(`{"resourceType":"Patient","id":"plain","meta":{"versionId":"1"},"name":[{"text":"Zoë"}]}`)
	// Repetitive, as AuditEvents are: it must shrink.
	packedBody := []byte(`{"resourceType":"Patient","id":"packed","meta":{"versionId":"1"},"note":"` +
		strings.Repeat("an urgent care plan read by a clinician; ", 40) + `"}`)

	plain := mustOpen(t, path)
	if _, err := plain.Write(ctx, []store.Change{{Type: "Patient", ID: "plain", VersionID: 1, LastUpdated: lu, Method: "POST", JSON: plainBody,
		Entries: []store.Entry{{Param: "name", Type: store.String, Norm: "zoe", Exact: "Zoë"}}}}); err != nil {
		t.Fatal(err)
	}
	plain.Close()

	s, err := sqlite.OpenWith(path, sqlite.Options{CompressJSON: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Write(ctx, []store.Change{{Type: "Patient", ID: "packed", VersionID: 1, LastUpdated: lu, Method: "POST", JSON: packedBody,
		Entries: []store.Entry{{Param: "name", Type: store.String, Norm: "zoe", Exact: "Zoë"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(packedBody), string(got[0].JSON)); diff != "" {
		t.Errorf("Write returned other JSON (-want +got):\n%s", diff)
	}

	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var raw []byte
	if err := db.QueryRow(`SELECT json FROM version WHERE id = 'packed'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte{0x28, 0xb5, 0x2f, 0xfd}) || len(raw) >= len(packedBody)/2 {
		t.Errorf("stored %d bytes (prefix % x) for %d bytes of JSON: want a zstd frame under half the size", len(raw), raw[:min(4, len(raw))], len(packedBody))
	}

	want := map[string]string{"plain": string(plainBody), "packed": string(packedBody)}
	for id, body := range want {
		v, err := s.Read(ctx, "Patient", id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(body, string(v.JSON)); diff != "" {
			t.Errorf("Read %s (-want +got):\n%s", id, diff)
		}
		v, err = s.VRead(ctx, "Patient", id, 1)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(body, string(v.JSON)); diff != "" {
			t.Errorf("VRead %s (-want +got):\n%s", id, diff)
		}
	}
	res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10,
		Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "zoe"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	gotSearch := map[string]string{}
	for _, v := range res.Versions {
		gotSearch[v.ID] = string(v.JSON)
	}
	if diff := cmp.Diff(want, gotSearch); diff != "" {
		t.Errorf("Search (-want +got):\n%s", diff)
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	gotHistory := map[string]string{}
	for _, v := range h.Versions {
		gotHistory[v.ID] = string(v.JSON)
	}
	if diff := cmp.Diff(want, gotHistory); diff != "" {
		t.Errorf("History (-want +got):\n%s", diff)
	}
}
