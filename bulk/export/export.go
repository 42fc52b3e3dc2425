package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"ucp/fhir/outcome"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/store"
)

// Store is what an export reads; store.Store satisfies it.
type Store interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	Search(ctx context.Context, q store.Query) (*store.Result, error)
}

// Defaults of Config.
const (
	DefaultMaxFileResources = 100_000
	DefaultExpiry           = 24 * time.Hour
	DefaultSettle           = 2 * time.Second
	DefaultPageSize         = 1000
	DefaultMaxQueued        = 16
)

// Config configures a Manager. Store, Registry, Types and Dir are required.
type Config struct {
	Store    Store
	Registry *search.Registry
	// Types are the served types.
	Types []string
	// Authorizer checks each exported type (as a search-type) at kick-off
	// and nothing else: the operation itself and downloads go through the
	// REST layer's. Nil allows everything.
	Authorizer service.Authorizer
	// ReadInterceptor filters every exported resource; nil shows all.
	ReadInterceptor service.ReadInterceptor
	// Dir holds the jobs' state and files; created if missing.
	Dir string
	// Workers is how many jobs run at once; default 1. MaxQueued bounds
	// the jobs waiting (a kick-off beyond it is refused); default
	// DefaultMaxQueued.
	Workers   int
	MaxQueued int
	// MaxFileResources is the most resources in one file; default
	// DefaultMaxFileResources.
	MaxFileResources int
	// PageSize is the number of resources read per store query; default
	// DefaultPageSize.
	PageSize int
	// Expiry is how long a finished job and its files are kept; default
	// DefaultExpiry.
	Expiry time.Duration
	// Settle is how long after transactionTime a job waits before reading
	// (see the package doc); default DefaultSettle, negative for none.
	Settle time.Duration
	// RetryAfter is the Retry-After of a status answer while the job runs;
	// default 2 s.
	RetryAfter time.Duration
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Manager runs export jobs. Build it with New, hand its Operations and
// Endpoints to the REST server, and Close it at shutdown.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	ctx   context.Context // cancelled by Close
	stop  context.CancelFunc
	queue chan *job
	wg    sync.WaitGroup

	mu   sync.Mutex
	jobs map[string]*job
}

// New loads the jobs kept in cfg.Dir and starts the workers.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Registry == nil || len(cfg.Types) == 0 || cfg.Dir == "" {
		return nil, errors.New("export: Config.Store, Registry, Types and Dir are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.MaxFileResources <= 0 {
		cfg.MaxFileResources = DefaultMaxFileResources
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.Settle == 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: cfg.Logger, ctx: ctx, stop: stop, queue: make(chan *job, cfg.MaxQueued), jobs: map[string]*job{}}
	if err := m.load(); err != nil {
		stop()
		return nil, err
	}
	m.expire()
	for range cfg.Workers {
		m.wg.Add(1)
		go m.work()
	}
	m.wg.Add(1)
	go m.sweep()
	return m, nil
}

// Close cancels the running jobs, waits for the workers and leaves every
// job's state on disk.
func (m *Manager) Close() error {
	m.stop()
	m.wg.Wait()
	return nil
}

// load reads the jobs in Dir. A job that was queued or running when the
// server stopped cannot be resumed (its principal is gone): it is failed.
func (m *Manager) load() error {
	entries, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || !validJobID(e.Name()) {
			continue
		}
		dir := filepath.Join(m.cfg.Dir, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, stateFile))
		if err != nil {
			// Cancelled or never started: nothing to report.
			m.log.Warn("export: removing a job directory without state", "dir", dir)
			os.RemoveAll(dir)
			continue
		}
		j := &job{}
		if err := json.Unmarshal(b, j); err != nil || j.ID != e.Name() {
			m.log.Warn("export: removing a job with unreadable state", "dir", dir, "err", err)
			os.RemoveAll(dir)
			continue
		}
		if j.Status == statusQueued || j.Status == statusRunning {
			j.Status = statusFailed
			j.Failure = "the export was interrupted by a server restart; start it again"
			j.Finished = m.cfg.Now().UTC()
			if err := m.save(j); err != nil {
				return err
			}
		}
		m.jobs[j.ID] = j
	}
	return nil
}

// sweep removes expired jobs now and then.
func (m *Manager) sweep() {
	defer m.wg.Done()
	every := max(min(m.cfg.Expiry/10, 10*time.Minute), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.expire()
		}
	}
}

// expire removes the finished jobs older than Expiry, with their files.
func (m *Manager) expire() {
	now := m.cfg.Now()
	m.mu.Lock()
	var gone []*job
	for id, j := range m.jobs {
		if j.finished() && now.After(j.Finished.Add(m.cfg.Expiry)) {
			delete(m.jobs, id)
			gone = append(gone, j)
		}
	}
	m.mu.Unlock()
	for _, j := range gone {
		if err := os.RemoveAll(m.jobDir(j.ID)); err != nil {
			m.log.Error("export: removing an expired job", "job", j.ID, "err", err)
		}
	}
}

// lookup returns the job id if owner started it and it has not expired.
// Anything else is NotFound, whoever asks, so that ids do not leak.
func (m *Manager) lookup(id, owner string) (*job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	if j == nil || owner == "" || j.Owner != owner || (j.finished() && m.cfg.Now().After(j.Finished.Add(m.cfg.Expiry))) {
		return nil, outcome.Errorf(outcome.NotFound, "no export job %q", id)
	}
	return j, nil
}

func (m *Manager) jobDir(id string) string { return filepath.Join(m.cfg.Dir, id) }

// save writes j's state atomically (a temporary file renamed over the old).
// It holds the lock throughout, so that a job the client deleted (whose
// directory DELETE removes once it has marked it) is never written again.
func (m *Manager) save(j *job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if j.deleted {
		return nil
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	dir := m.jobDir(j.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// newJobID is 128 random bits: unguessable, so a job's URL names it and
// nothing about it.
func newJobID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

func validJobID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
