package export

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ErrGone is what a Storage answers for a job that is not there: never
// created, expired, or deleted (perhaps by another node).
var ErrGone = errors.New("export: no such job")

// Storage keeps the jobs' state and files. DirStorage keeps them in one
// node's directory; package bulk/export/pgexport in a PostgreSQL database,
// so that every node on it sees every job.
type Storage interface {
	// Shared says whether other nodes see the same jobs: then the
	// storage, not the Manager's memory, says which jobs exist.
	Shared() bool
	// Create stores a new job's state.
	Create(ctx context.Context, id string, state []byte) error
	// Update replaces a job's state; ErrGone when the job is not there.
	Update(ctx context.Context, id string, state []byte) error
	// Get returns a job's state; ErrGone when it is not there.
	Get(ctx context.Context, id string) ([]byte, error)
	// List returns the states of every job.
	List(ctx context.Context) (map[string][]byte, error)
	// Remove deletes a job and its files; a job not there is no error.
	Remove(ctx context.Context, id string) error
	// RemoveFiles deletes a job's files and keeps its state.
	RemoveFiles(ctx context.Context, id string) error
	// CreateFile starts a file of a job; what is written is kept only once
	// the FileWriter is committed. ErrGone when the job is not there.
	CreateFile(ctx context.Context, id, name string) (FileWriter, error)
	// OpenFile returns a committed file; ErrGone when it is not there.
	OpenFile(ctx context.Context, id, name string) (File, error)
}

// FileWriter is a file being written.
type FileWriter interface {
	io.Writer
	// Commit makes the file whole and durable.
	Commit() error
	// Abort drops what was written.
	Abort() error
}

// File is a committed file, read for a download.
type File interface {
	io.ReadSeekCloser
	// ModTime is when the file was written.
	ModTime() time.Time
}

// DirStorage keeps each job in a directory under Dir: job.json, its state
// (rewritten atomically), and its files. Only the node whose disk it is
// sees them.
type DirStorage struct {
	Dir string
}

var _ Storage = DirStorage{}

// Shared implements Storage: false.
func (d DirStorage) Shared() bool { return false }

func (d DirStorage) jobDir(id string) string { return filepath.Join(d.Dir, id) }

// Create implements Storage.
func (d DirStorage) Create(ctx context.Context, id string, state []byte) error {
	if err := os.MkdirAll(d.jobDir(id), 0o700); err != nil {
		return err
	}
	return d.write(id, state)
}

// Update implements Storage.
func (d DirStorage) Update(ctx context.Context, id string, state []byte) error {
	if _, err := os.Stat(d.jobDir(id)); errors.Is(err, os.ErrNotExist) {
		return ErrGone
	}
	return d.write(id, state)
}

// write replaces the state atomically: a temporary file renamed over it.
func (d DirStorage) write(id string, state []byte) error {
	tmp := filepath.Join(d.jobDir(id), stateFile+".tmp")
	if err := os.WriteFile(tmp, state, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(d.jobDir(id), stateFile))
}

// Get implements Storage.
func (d DirStorage) Get(ctx context.Context, id string) ([]byte, error) {
	if !validJobID(id) {
		return nil, ErrGone
	}
	b, err := os.ReadFile(filepath.Join(d.jobDir(id), stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrGone
	}
	return b, err
}

// List implements Storage. A job directory without state (cancelled, or
// never started) is removed.
func (d DirStorage) List(ctx context.Context) (map[string][]byte, error) {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if !e.IsDir() || !validJobID(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.jobDir(e.Name()), stateFile))
		if errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(d.jobDir(e.Name()))
			continue
		} else if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		out[e.Name()] = b
	}
	return out, nil
}

// Remove implements Storage.
func (d DirStorage) Remove(ctx context.Context, id string) error {
	return os.RemoveAll(d.jobDir(id))
}

// RemoveFiles implements Storage.
func (d DirStorage) RemoveFiles(ctx context.Context, id string) error {
	entries, err := os.ReadDir(d.jobDir(id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.Name() != stateFile {
			errs = append(errs, os.Remove(filepath.Join(d.jobDir(id), e.Name())))
		}
	}
	return errors.Join(errs...)
}

// CreateFile implements Storage.
func (d DirStorage) CreateFile(ctx context.Context, id, name string) (FileWriter, error) {
	f, err := os.OpenFile(filepath.Join(d.jobDir(id), name), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrGone
	} else if err != nil {
		return nil, err
	}
	return &dirFile{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

type dirFile struct {
	f *os.File
	w *bufio.Writer
}

func (f *dirFile) Write(p []byte) (int, error) { return f.w.Write(p) }

func (f *dirFile) Commit() error { return errors.Join(f.w.Flush(), f.f.Sync(), f.f.Close()) }

func (f *dirFile) Abort() error {
	return errors.Join(f.f.Close(), os.Remove(f.f.Name()))
}

// OpenFile implements Storage.
func (d DirStorage) OpenFile(ctx context.Context, id, name string) (File, error) {
	f, err := os.Open(filepath.Join(d.jobDir(id), name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrGone
	} else if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return osFile{f, st.ModTime()}, nil
}

type osFile struct {
	*os.File
	mod time.Time
}

func (f osFile) ModTime() time.Time { return f.mod }
