package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
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

// Config configures a Manager. Store, Registry, Types and Dir (or Storage)
// are required.
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
	// Dir holds the jobs' state and files; created if missing. It is
	// DirStorage's, used when Storage is nil.
	Dir string
	// Storage keeps the jobs' state and files; nil means DirStorage{Dir}.
	// A shared one (pgexport) lets every node answer for every job. The
	// Manager owns it: New (when it fails) and Close close it if it is an
	// io.Closer.
	Storage Storage
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
	st    Storage

	mu   sync.Mutex
	jobs map[string]*job
}

// New loads the jobs kept in cfg.Dir and starts the workers.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Registry == nil || len(cfg.Types) == 0 || cfg.Dir == "" && cfg.Storage == nil {
		return nil, errors.New("export: Config.Store, Registry, Types and Dir (or Storage) are required")
	}
	if cfg.Storage == nil {
		cfg.Storage = DirStorage{Dir: cfg.Dir}
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
	ctx, stop := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: cfg.Logger, ctx: ctx, stop: stop, queue: make(chan *job, cfg.MaxQueued), jobs: map[string]*job{}, st: cfg.Storage}
	if err := m.load(); err != nil {
		stop()
		return nil, errors.Join(err, m.closeStorage())
	}
	m.expire()
	for range cfg.Workers {
		m.wg.Add(1)
		go m.work()
	}
	m.wg.Add(1)
	go m.sweep()
	if cfg.Storage.Shared() {
		m.wg.Add(1)
		go m.beat()
	}
	return m, nil
}

// Close cancels the running jobs, waits for the workers and leaves every
// job's state on disk.
func (m *Manager) Close() error {
	m.stop()
	m.wg.Wait()
	return m.closeStorage()
}

func (m *Manager) closeStorage() error {
	if c, ok := m.st.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// heartbeat is how often a running job's state is rewritten, and stale how
// long a queued or running job's state may go unwritten before another
// node takes its node for gone (crashed, or killed) and fails it.
const (
	heartbeat = 20 * time.Second
	stale     = 3 * heartbeat
)

// load reads the jobs kept in the storage. A job that was queued or running
// when its server stopped cannot be resumed (its principal is gone): it is
// failed. With a shared storage other nodes' jobs are theirs: only one
// whose node stopped writing it (stale) is failed, and this node keeps in
// memory only the jobs it runs.
func (m *Manager) load() error {
	states, err := m.st.List(m.ctx)
	if err != nil {
		return err
	}
	for id, b := range states {
		j := &job{}
		if err := json.Unmarshal(b, j); err != nil || j.ID != id {
			m.log.Warn("export: removing a job with unreadable state", "job", id, "err", err)
			if err := m.st.Remove(m.ctx, id); err != nil {
				return err
			}
			continue
		}
		if err := m.failInterrupted(j); err != nil {
			return err
		}
		if !m.st.Shared() {
			m.jobs[j.ID] = j
		}
	}
	return nil
}

// failInterrupted fails a job whose server stopped while it was queued or
// running: any such job at start with a storage of this node's own, one
// not written for longer than stale with a shared one.
func (m *Manager) failInterrupted(j *job) error {
	if j.finished() || m.st.Shared() && m.cfg.Now().Sub(j.Beat) < stale {
		return nil
	}
	j.Status = statusFailed
	j.Failure = "the export was interrupted by a server restart; start it again"
	j.Finished = m.cfg.Now().UTC()
	if err := m.save(j); err != nil && !errors.Is(err, ErrGone) {
		return err
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

// beat rewrites the state of this node's queued and running jobs every
// heartbeat, so that other nodes sharing the storage know they are alive.
func (m *Manager) beat() {
	defer m.wg.Done()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		var open []*job
		for _, j := range m.jobs {
			if !j.finished() {
				open = append(open, j)
			}
		}
		m.mu.Unlock()
		for _, j := range open {
			if err := m.save(j); err != nil && !errors.Is(err, ErrGone) {
				m.log.Error("export: saving job state", "job", j.ID, "err", err)
			}
		}
	}
}

// expire removes the finished jobs older than Expiry, with their files;
// with a shared storage, every node's (any node may), and it fails the
// jobs of a node that stopped.
func (m *Manager) expire() {
	now := m.cfg.Now()
	expired := func(j *job) bool { return j.finished() && now.After(j.Finished.Add(m.cfg.Expiry)) }
	var gone []string
	m.mu.Lock()
	for id, j := range m.jobs {
		if expired(j) {
			delete(m.jobs, id)
			gone = append(gone, id)
		}
	}
	m.mu.Unlock()
	if m.st.Shared() {
		states, err := m.st.List(m.ctx)
		if err != nil {
			m.log.Error("export: listing jobs to expire", "err", err)
		}
		for id, b := range states {
			j := &job{}
			if err := json.Unmarshal(b, j); err != nil {
				continue
			}
			if expired(j) {
				gone = append(gone, id)
			} else if m.local(id) == nil {
				if err := m.failInterrupted(j); err != nil {
					m.log.Error("export: failing an interrupted job", "job", id, "err", err)
				}
			}
		}
	}
	for _, id := range gone {
		if err := m.st.Remove(m.ctx, id); err != nil {
			m.log.Error("export: removing an expired job", "job", id, "err", err)
		}
	}
}

// local returns the job if this node runs it (or, with a storage of its
// own, keeps it).
func (m *Manager) local(id string) *job {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.jobs[id]
}

// lookup returns the job id if owner started it and it has not expired.
// Anything else is NotFound, whoever asks, so that ids do not leak. With a
// shared storage the storage says whether the job exists (another node may
// have started or deleted it); the copy in memory of a job this node runs
// is the more current.
func (m *Manager) lookup(ctx context.Context, id, owner string) (*job, error) {
	notFound := outcome.Errorf(outcome.NotFound, "no export job %q", id)
	j := m.local(id)
	if m.st.Shared() {
		b, err := m.st.Get(ctx, id)
		if errors.Is(err, ErrGone) {
			if j != nil {
				m.forget(j)
			}
			return nil, notFound
		} else if err != nil {
			return nil, err
		}
		if j == nil {
			j = &job{}
			if err := json.Unmarshal(b, j); err != nil || j.ID != id {
				return nil, notFound
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if j == nil || owner == "" || j.Owner != owner || (j.finished() && m.cfg.Now().After(j.Finished.Add(m.cfg.Expiry))) {
		return nil, notFound
	}
	return j, nil
}

// forget drops a job another node deleted, cancelling it if it runs here.
func (m *Manager) forget(j *job) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.jobs, j.ID)
	j.deleted = true
	if j.cancel != nil {
		j.cancel()
	}
}

// create stores a new job's state.
func (m *Manager) create(ctx context.Context, j *job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j.Beat = m.cfg.Now().UTC()
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return m.st.Create(ctx, j.ID, b)
}

// save writes j's state over the stored one. It holds the lock throughout,
// so that a job the client deleted (whose state DELETE removes once it has
// marked it) is never written again. A job deleted elsewhere (another node
// answered the DELETE) is ErrGone: it is marked deleted and cancelled.
func (m *Manager) save(j *job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if j.deleted {
		return nil
	}
	j.Beat = m.cfg.Now().UTC()
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	err = m.st.Update(m.ctx, j.ID, b)
	if errors.Is(err, ErrGone) {
		delete(m.jobs, j.ID)
		j.deleted = true
		if j.cancel != nil {
			j.cancel()
		}
	}
	return err
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
