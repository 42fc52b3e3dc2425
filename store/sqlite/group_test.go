package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/store"
	"ucp/store/sqlite"
)

func patient(id string, version int64) store.Change {
	return store.Change{Type: "Patient", ID: id, VersionID: version, PrevVersion: version - 1, LastUpdated: time.Now(), Method: "PUT",
		JSON:    []byte(fmt.Sprintf(`{"resourceType":"Patient","id":%q,"meta":{"versionId":"%d"}}`, id, version)),
		Entries: []store.Entry{{Param: "identifier", Type: store.Token, System: "urn:test", Code: id}}}
}

// TestGroupCommit queues writes behind a held writer so that they are
// committed as one group, some of them failing: each failing write leaves
// nothing behind (all or none, even when its first change, an update, was
// applied before the second failed) and
// every other write of the group is stored, indexed and answered.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, filepath.Join(t.TempDir(), "ucp.db"))
	defer s.Close()
	if _, err := s.Write(ctx, []store.Change{patient("taken", 1), patient("old", 1)}); err != nil {
		t.Fatal(err)
	}
	writes := map[string][]store.Change{
		"a":                         {patient("a", 1)},
		"b and c":                   {patient("b", 1), patient("c", 1)},
		"taken again":               {patient("taken", 1)},
		"old updated, then a clash": {patient("old", 2), patient("taken", 1)},
		"e":                         {patient("e", 1)},
		"taken at version 2":        {patient("taken", 2)},
		"f at a wrong version":      {patient("f", 2)},
	}
	wantErr := map[string]bool{"taken again": true, "old updated, then a clash": true, "f at a wrong version": true}

	release := s.HoldWriter()
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]bool{}
	for name, changes := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Write(ctx, changes)
			if err != nil && store.KindOf(err) != store.Conflict {
				t.Errorf("%s: %v, want a conflict or success", name, err)
			}
			mu.Lock()
			got[name] = err != nil
			mu.Unlock()
		}()
	}
	for s.Queued() < len(writes) {
		runtime.Gosched()
	}
	release()
	wg.Wait()
	if diff := cmp.Diff(len(writes), len(got)); diff != "" {
		t.Fatalf("answers (-want +got):\n%s", diff)
	}
	gotErr := map[string]bool{}
	for name, failed := range got {
		if failed {
			gotErr[name] = true
		}
	}
	if diff := cmp.Diff(wantErr, gotErr); diff != "" {
		t.Errorf("failed writes (-want +got):\n%s", diff)
	}
	stored := map[string]int64{}
	for _, id := range []string{"a", "b", "c", "e", "f", "old", "taken"} {
		v, err := s.Read(ctx, "Patient", id)
		if err == nil {
			stored[id] = v.VersionID
		}
		res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10,
			Where: []store.Clause{{Any: []store.Cond{{Param: "identifier", Type: store.Token, System: "urn:test", Code: id, SystemSet: true}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if (len(res.Versions) == 1) != (stored[id] > 0) {
			t.Errorf("%s: stored %v but found by its identifier %d times", id, stored[id] > 0, len(res.Versions))
		}
	}
	if diff := cmp.Diff(map[string]int64{"a": 1, "b": 1, "c": 1, "e": 1, "old": 1, "taken": 2}, stored); diff != "" {
		t.Errorf("stored versions (-want +got):\n%s", diff)
	}
}

// TestGroupCommitKill9 writes from many goroutines in a child process
// that prints each write as it is answered, kills it with SIGKILL
// mid-stream, and checks that every answered write is in the reopened
// database.
func TestGroupCommitKill9(t *testing.T) {
	if path := os.Getenv("UCP_SQLITE_KILL_CHILD"); path != "" {
		killChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "ucp.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupCommitKill9$")
	cmd.Env = append(os.Environ(), "UCP_SQLITE_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for len(acked) < 300 && sc.Scan() {
		acked = append(acked, sc.Text())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// What the child printed before the kill was answered before it.
	for sc.Scan() {
		acked = append(acked, sc.Text())
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want killed by SIGKILL (%d writes answered)", err, len(acked))
	}
	if len(acked) < 300 {
		t.Fatalf("child answered %d writes before it was killed, want 300", len(acked))
	}
	s := mustOpen(t, path)
	defer s.Close()
	ctx := context.Background()
	for _, id := range acked {
		if _, err := s.Read(ctx, "Patient", id); err != nil {
			t.Errorf("answered write of Patient/%s lost: %v", id, err)
		}
	}
}

// killChild writes patients from 16 goroutines until it is killed,
// printing each id once its write is answered.
func killChild(path string) {
	s, err := sqlite.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				id := strconv.Itoa(g) + "-" + strconv.Itoa(n)
				if _, err := s.Write(context.Background(), []store.Change{patient(id, 1)}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintln(w, id)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
