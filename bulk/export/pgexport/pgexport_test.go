package pgexport_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/bulk/export"
	"ucp/bulk/export/pgexport"
	"ucp/store/postgres/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

func open(t *testing.T, conn string) *pgexport.Storage {
	t.Helper()
	// Five-byte chunks: every file here spans several.
	s, err := pgexport.Open(context.Background(), conn, pgexport.WithChunkSize(5))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const (
	job1 = "0123456789abcdef0123456789abcdef"
	job2 = "fedcba9876543210fedcba9876543210"
)

// contract checks what the Manager relies on of a Storage; a and b are two
// handles on it (two nodes when it is shared).
func contract(t *testing.T, a, b export.Storage) {
	ctx := context.Background()
	if err := a.Update(ctx, job1, []byte(`{}`)); !errors.Is(err, export.ErrGone) {
		t.Errorf("Update of no job: %v, want ErrGone", err)
	}
	if _, err := a.Get(ctx, job1); !errors.Is(err, export.ErrGone) {
		t.Errorf("Get of no job: %v, want ErrGone", err)
	}
	for _, id := range []string{job1, job2} {
		if err := a.Create(ctx, id, []byte(`{"v":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Update(ctx, job1, []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	got, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{job1: `{"v":2}`, job2: `{"v":1}`}
	gotS := map[string]string{}
	for k, v := range got {
		gotS[k] = string(v)
	}
	if diff := cmp.Diff(want, gotS); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	// A file of several chunks, read whole and from an offset.
	content := strings.Repeat(`{"resourceType":"Patient"}`+"\n", 7)
	w, err := a.CreateFile(ctx, job1, "Patient-1.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.SplitAfter(content, "\n") {
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := b.OpenFile(ctx, job1, "Patient-1.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(f)
	if err != nil || string(all) != content {
		t.Errorf("file read back: %v %q, want %q", err, all, content)
	}
	if _, err := f.Seek(31, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 12)
	if _, err := io.ReadFull(f, part); err != nil || string(part) != content[31:43] {
		t.Errorf("read at 31: %v %q, want %q", err, part, content[31:43])
	}
	if end, err := f.Seek(0, io.SeekEnd); err != nil || end != int64(len(content)) {
		t.Errorf("size %d %v, want %d", end, err, len(content))
	}
	f.Close()
	// An aborted file is not there.
	w, err = a.CreateFile(ctx, job1, "Observation-1.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("half a line that is longer than a chunk"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.OpenFile(ctx, job1, "Observation-1.ndjson"); !errors.Is(err, export.ErrGone) {
		t.Errorf("an aborted file: %v, want ErrGone", err)
	}
	// RemoveFiles keeps the state.
	if err := b.RemoveFiles(ctx, job1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.OpenFile(ctx, job1, "Patient-1.ndjson"); !errors.Is(err, export.ErrGone) {
		t.Errorf("a removed file: %v, want ErrGone", err)
	}
	if _, err := a.Get(ctx, job1); err != nil {
		t.Errorf("state after RemoveFiles: %v", err)
	}

	if !a.Shared() {
		return // one node: its Manager cancels a job it deletes itself
	}
	// A job removed by one node while the other writes it: the writer is
	// refused, and nothing of the job is left.
	w, err = a.CreateFile(ctx, job2, "Patient-1.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(ctx, job2); err != nil {
		t.Fatal(err)
	}
	_, werr := w.Write([]byte("0123456789"))
	if cerr := w.Commit(); !errors.Is(errors.Join(werr, cerr), export.ErrGone) {
		t.Errorf("writing a removed job: %v, %v, want ErrGone", werr, cerr)
	}
	if err := a.Update(ctx, job2, []byte(`{}`)); !errors.Is(err, export.ErrGone) {
		t.Errorf("Update of a removed job: %v, want ErrGone", err)
	}
	if err := a.Remove(ctx, job2); err != nil {
		t.Errorf("removing a removed job: %v", err)
	}
}

func TestPostgresStorage(t *testing.T) {
	conn := cluster.Database(t)
	a, b := open(t, conn), open(t, conn)
	if !a.Shared() {
		t.Error("a PostgreSQL storage is shared")
	}
	contract(t, a, b)
}

// The directory storage holds the same contract, on one node.
func TestDirStorage(t *testing.T) {
	d := export.DirStorage{Dir: t.TempDir()}
	if _, err := d.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	contract(t, d, d)
}
