package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"ucp/store"
	"ucp/store/sqlite"
	"ucp/store/storetest"
	"ucp/synth"
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

// TestCompressedSynthGolden writes synthetic patients' resources (a seed
// the dictionary was not trained on) through a compressing store and checks
// that each is stored as a frame naming the shipped dictionary, smaller than
// a third of its JSON on the whole, and read back byte for byte.
func TestCompressedSynthGolden(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ucp.db")
	s, err := sqlite.OpenWith(path, sqlite.Options{CompressJSON: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lu := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	type key struct{ typ, id string }
	want := map[key]map[int64]string{}
	var changes []store.Change
	err = synth.Generate(synth.Options{Patients: 25, Seed: 3}, synth.NDJSON(func(typ string, line []byte) error {
		var head struct{ ID string }
		if err := json.Unmarshal(line, &head); err != nil {
			return err
		}
		k := key{typ, head.ID}
		if want[k] == nil {
			want[k] = map[int64]string{}
		}
		vid := int64(len(want[k]) + 1)
		want[k][vid] = string(line)
		method := "POST"
		if vid > 1 {
			method = "PUT"
		}
		changes = append(changes, store.Change{Type: typ, ID: head.ID, VersionID: vid, PrevVersion: vid - 1, LastUpdated: lu, Method: method, JSON: append([]byte(nil), line...)})
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	// One write a version: a Write may not touch a resource twice.
	for _, c := range changes {
		if _, err := s.Write(ctx, []store.Change{c}); err != nil {
			t.Fatal(err)
		}
	}

	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT json FROM version`)
	if err != nil {
		t.Fatal(err)
	}
	var stored, plain int
	dictIDs := map[uint32]int{}
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var h zstd.Header
		if err := h.Decode(raw); err != nil {
			t.Fatalf("a stored version is not a zstd frame: %v", err)
		}
		dictIDs[h.DictionaryID]++
		stored += len(raw)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		plain += len(c.JSON)
	}
	// The dictionary's id: store/sqlite/internal/traindict's base + 1.
	if diff := cmp.Diff(map[uint32]int{0x75630001: len(changes)}, dictIDs); diff != "" {
		t.Errorf("frames by dictionary id (-want +got):\n%s", diff)
	}
	if stored*3 > plain {
		t.Errorf("stored %d bytes for %d bytes of JSON: want under a third", stored, plain)
	}

	for k, versions := range want {
		v, err := s.Read(ctx, k.typ, k.id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(versions[int64(len(versions))], string(v.JSON)); diff != "" {
			t.Errorf("Read %s/%s (-want +got):\n%s", k.typ, k.id, diff)
		}
		for vid, body := range versions {
			v, err := s.VRead(ctx, k.typ, k.id, vid)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(body, string(v.JSON)); diff != "" {
				t.Errorf("VRead %s/%s/%d (-want +got):\n%s", k.typ, k.id, vid, diff)
			}
		}
	}
}

// TestCompressedFrameWithoutDictionaryReads checks that a row compressed
// before the dictionary shipped (a plain zstd frame, as the audit file
// stored them) still reads as written.
func TestCompressedFrameWithoutDictionaryReads(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ucp.db")
	s, err := sqlite.OpenWith(path, sqlite.Options{CompressJSON: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := []byte(`{"resourceType":"AuditEvent","id":"old","meta":{"versionId":"1"},"action":"R","recorded":"2024-06-01T12:00:00Z"}`)
	if _, err := s.Write(ctx, []store.Change{{Type: "AuditEvent", ID: "old", VersionID: 1, LastUpdated: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC),
		Method: "POST", JSON: []byte(`{"resourceType":"AuditEvent","id":"old"}`)}}); err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
	if err != nil {
		t.Fatal(err)
	}
	old := enc.EncodeAll(body, nil)
	enc.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE version SET json = ? WHERE id = 'old'`, old); err != nil {
		t.Fatal(err)
	}
	v, err := s.VRead(ctx, "AuditEvent", "old", 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(body), string(v.JSON)); diff != "" {
		t.Errorf("VRead (-want +got):\n%s", diff)
	}
}
