package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/store"
)

// Sink is the service.AuditSink. It turns each AuditRecord into an AuditEvent
// and makes it durable in an append-only journal before Record returns; a
// background drainer then writes the journal into the store.
//
// # Durability
//
// Record returns only after the AuditEvent's line is written and fsynced in
// the journal. The REST layer calls Record after writing the response body
// but before its handler returns, so the response is not complete (a small
// body is still in the server's write buffer, and the final flush of a
// chunked body has not happened) until the audit is on disk: a client never
// holds a complete answer whose audit could be lost by a crash. A body
// larger than the server's buffer may have started to reach the client.
//
// Lines are committed in groups: while one fsync runs, the next requests
// queue and are written with a single fsync after it. No delay is added to
// wait for company, so a lone request pays one fsync and a busy server
// amortises it (see BenchmarkRecord).
//
// The drainer writes journal lines into the store in batches (gathered for
// up to drainDelay, so that one store transaction carries many) and then
// records the drained journal offset in a small file, replaced atomically
// but not fsynced (a lost or empty offset file only means more replay).
// After a crash the lines after that offset are written again; AuditEvent
// ids are fixed in the journal, so a Conflict on an id means the event was
// already stored and it is skipped: every event is stored exactly once.
// A torn last line (a crash in the middle of a write, never acknowledged to
// anyone) is cut off on Open.
type Sink struct {
	dir string
	st  store.Store
	reg Extractor
	log *slog.Logger
	now func() time.Time

	reqs chan commitReq
	kick chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup

	fmu sync.Mutex // the journal file: writes, syncs, rotation
	f   *os.File

	cmu    sync.RWMutex // closed, and sends on reqs
	closed bool

	mu      sync.Mutex
	size    int64   // durable end of the journal
	queue   []entry // journaled, not yet in the store
	drained int64   // journal offset up to which everything is stored

	drainMu sync.Mutex
	manual  bool // tests: no background drainer

	syncEvery time.Duration // Options.SyncInterval
	dirty     bool          // written since the last fsync; under fmu
}

type entry struct {
	line []byte // the AuditEvent JSON, without the newline
	end  int64  // journal offset just after its newline
}

type commitReq struct {
	line []byte // with the newline
	done chan error
}

// Options configures a Sink; the zero value is usable.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time // the clock; nil means time.Now
	// SyncInterval, when positive, trades the per-record fsync for a
	// timer: Record returns once its line is written to the journal file
	// (so it survives a crash or restart of the server), and the journal is
	// fsynced every SyncInterval (so a power cut loses at most that much).
	// Zero, the default, fsyncs before Record returns.
	SyncInterval time.Duration
}

const (
	journalName = "audit.journal"
	offsetName  = "audit.offset"
	// maxGroup bounds the lines one fsync commits.
	maxGroup = 1024
	// drainBatch is the most AuditEvents one store write carries.
	drainBatch = 256
	// rotateAt is the journal size above which a fully drained journal is
	// emptied, so it does not grow without bound.
	rotateAt = 16 << 20
	// retryEvery is how often the drainer retries after the store failed.
	retryEvery = time.Second
	// drainDelay is how long the drainer lets journaled events gather
	// before it writes them into the store (unless a full batch is
	// waiting). The events are already durable in the journal, so the
	// delay only defers when they become searchable; in exchange one store
	// transaction (one WAL commit and fsync, and index pages dirtied once)
	// carries many events instead of one or two, which under load was a
	// third of the server's CPU.
	drainDelay = 200 * time.Millisecond
)

var _ service.AuditSink = (*Sink)(nil)

// JournalPath is the journal's file in dir, for backups. A copy of it put
// back in an audit dir without the offset file is replayed whole on Open:
// the events already in the store are skipped, the others stored.
func JournalPath(dir string) string { return filepath.Join(dir, journalName) }

// Open opens (creating) the journal in dir, queues every line after the
// drained offset for the store, and starts the committer and the drainer.
// reg is the search Registry, which indexes the AuditEvents.
func Open(dir string, st store.Store, reg Extractor, opts Options) (*Sink, error) {
	return open(dir, st, reg, opts, false)
}

func open(dir string, st store.Store, reg Extractor, opts Options, manual bool) (*Sink, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	s := &Sink{dir: dir, st: st, reg: reg, log: opts.Logger, now: opts.Now, manual: manual, syncEvery: opts.SyncInterval,
		reqs: make(chan commitReq, maxGroup), kick: make(chan struct{}, 1), quit: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.commitLoop()
	if s.syncEvery > 0 {
		s.wg.Add(1)
		go s.syncLoop()
	}
	if !manual {
		s.wg.Add(1)
		go s.drainLoop()
	}
	return s, nil
}

// recover reads the offset and the journal, cuts a torn tail and queues the
// undrained lines.
func (s *Sink) recover() error {
	off := int64(0)
	if b, err := os.ReadFile(filepath.Join(s.dir, offsetName)); err == nil {
		off, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || off < 0 {
			// The drainer's offset writes are not fsynced (see Drain): a
			// power cut may leave the file empty. Replaying the whole
			// journal is safe, as a replayed event that is already stored
			// is skipped.
			s.log.Warn("audit: unreadable offset file; replaying the whole journal", "err", err)
			off = 0
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.dir, journalName), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	good := int64(bytes.LastIndexByte(data, '\n') + 1)
	if good < int64(len(data)) {
		// Never acknowledged: Record returns only after the fsync of a
		// whole line.
		s.log.Warn("audit: cutting a torn line off the journal", "bytes", int64(len(data))-good)
		if err := f.Truncate(good); err != nil {
			f.Close()
			return fmt.Errorf("audit: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("audit: %w", err)
		}
		data = data[:good]
	}
	if off > good {
		// The journal was emptied after the offset was written: the
		// rotation writes offset 0 first, so this means manual tampering.
		// Replaying all is safe.
		off = 0
	}
	s.f, s.size, s.drained = f, good, off
	pos := off
	for pos < good {
		i := int64(bytes.IndexByte(data[pos:], '\n'))
		line := data[pos : pos+i]
		pos += i + 1
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		s.queue = append(s.queue, entry{line: line, end: pos})
	}
	if len(s.queue) > 0 {
		s.log.Info("audit: replaying journal", "events", len(s.queue))
	}
	return nil
}

// Record implements service.AuditSink: it audits one interaction and returns
// once the AuditEvent is durable in the journal.
func (s *Sink) Record(ctx context.Context, r service.AuditRecord) {
	if r.Interaction == "capabilities" {
		return // public metadata, no one's data: auditing it is noise
	}
	e := &Event{Interaction: r.Interaction, Operation: r.Operation, Type: r.Type, ID: r.ID,
		Query: r.Query, Status: r.Status, Err: r.Err, Time: r.Time, Page: r.Page, Disclosed: r.Disclosed}
	shown, refused, written := r.Call.Disclosed().Report()
	if written && r.Status < 400 && isWrite(r.Interaction) {
		return // the WriteInterceptor's AuditEvent was stored with the write
	}
	e.Patients = addPatient(nil, shown...)
	if r.Status >= 400 && isSingleRead(r.Interaction) {
		e.Patients = addPatient(e.Patients, refused...)
	}
	if r.Type == "Patient" && r.ID != "" {
		e.Patients = addPatient(e.Patients, r.ID)
	}
	if e.Status == 0 {
		e.Status = 200
	}
	e.Principal, e.BreakGlass = auth.FromContext(ctx), r.Call.BreakGlassReason()
	ev := Build(e)
	if err := s.Append(ev); err != nil {
		// The response is already written; the best left is a loud log
		// naming the event, so an operator can reconstruct it.
		s.log.ErrorContext(ctx, "audit: AuditEvent NOT recorded", "err", err, "id", ev.ID,
			"interaction", r.Interaction, "type", r.Type, "resource", r.ID, "status", r.Status)
	}
}

func isSingleRead(interaction string) bool {
	return interaction == "read" || interaction == "vread" || interaction == "history-instance"
}

func isWrite(interaction string) bool {
	switch interaction {
	case "create", "update", "patch", "delete":
		return true
	}
	return false
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: sink closed")

// Append journals one AuditEvent and returns once it is durable. The
// drainer parses its line again to index it, off the request's path.
func (s *Sink) Append(ev *AuditEvent) error {
	line := append(ev.JSON(), '\n')
	done := make(chan error, 1)
	s.cmu.RLock()
	if s.closed {
		s.cmu.RUnlock()
		return ErrClosed
	}
	// Sent under cmu so that Close never closes reqs while a send is in
	// flight. Not under mu: the committer takes mu, and a full channel
	// would deadlock.
	s.reqs <- commitReq{line: line, done: done}
	s.cmu.RUnlock()
	return <-done
}

// commitLoop writes queued lines in groups, one fsync per group.
func (s *Sink) commitLoop() {
	defer s.wg.Done()
	var buf []byte
	group := make([]commitReq, 0, maxGroup)
	for r := range s.reqs {
		group = append(group[:0], r)
	more:
		for len(group) < maxGroup {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		buf = buf[:0]
		for _, r := range group {
			buf = append(buf, r.line...)
		}
		s.fmu.Lock()
		_, err := s.f.Write(buf)
		if err == nil {
			if s.syncEvery > 0 {
				s.dirty = true // syncLoop fsyncs it
			} else {
				err = s.f.Sync()
			}
		}
		if err != nil {
			// Cut what may have been half written, so the next group does
			// not follow a torn line.
			s.f.Truncate(s.size)
		}
		s.fmu.Unlock()
		if err == nil {
			s.mu.Lock()
			for _, r := range group {
				s.size += int64(len(r.line))
				s.queue = append(s.queue, entry{line: r.line[:len(r.line)-1], end: s.size})
			}
			s.mu.Unlock()
			select {
			case s.kick <- struct{}{}:
			default:
			}
		}
		for _, r := range group {
			r.done <- err
		}
	}
}

// syncLoop fsyncs the journal every syncEvery when lines were written
// since the last fsync, and once more when the sink closes.
func (s *Sink) syncLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.syncEvery)
	defer t.Stop()
	sync := func() {
		s.fmu.Lock()
		defer s.fmu.Unlock()
		if s.dirty {
			if err := s.f.Sync(); err != nil {
				s.log.Error("audit: fsync of the journal failed", "err", err)
				return
			}
			s.dirty = false
		}
	}
	for {
		select {
		case <-t.C:
			sync()
		case <-s.quit:
			sync()
			return
		}
	}
}

// drainLoop moves journaled events into the store whenever there are new
// ones, retrying after failures.
func (s *Sink) drainLoop() {
	defer s.wg.Done()
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	delay := time.NewTimer(drainDelay)
	delay.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-s.kick:
			if !s.gather(delay) {
				return
			}
		case <-t.C:
		}
		if _, err := s.Drain(context.Background()); err != nil {
			s.log.Error("audit: draining the journal into the store", "err", err)
		}
	}
}

// gather waits up to drainDelay for more events to be journaled, returning
// early once a full batch is queued; false means the sink is closing (Close
// drains what is left).
func (s *Sink) gather(delay *time.Timer) bool {
	delay.Reset(drainDelay)
	defer delay.Stop()
	for {
		s.mu.Lock()
		full := len(s.queue) >= drainBatch
		s.mu.Unlock()
		if full {
			return true
		}
		select {
		case <-s.quit:
			return false
		case <-delay.C:
			return true
		case <-s.kick:
		}
	}
}

// Drain writes every journaled event that is not yet in the store, in
// batches, and returns how many it stored. It is safe to call at any time;
// the drainer calls it drainDelay after a commit.
func (s *Sink) Drain(ctx context.Context) (int, error) {
	// One drain at a time: the batch is taken from the queue's head, and
	// two drains would store it twice (harmlessly, but for nothing).
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	total := 0
	for {
		s.mu.Lock()
		n := min(len(s.queue), drainBatch)
		batch := append([]entry(nil), s.queue[:n]...)
		s.mu.Unlock()
		if n == 0 {
			return total, nil
		}
		stored, err := s.store(ctx, batch)
		total += stored
		if err != nil {
			return total, err
		}
		end := batch[n-1].end
		// Not fsynced: an offset lost in a power cut only makes the next
		// Open replay events that are already stored, which it skips; the
		// fsyncs (file and directory) after every batch competed with the
		// journal's for the disk.
		if err := writeFileAtomic(filepath.Join(s.dir, offsetName), []byte(strconv.FormatInt(end, 10)+"\n"), false); err != nil {
			return total, fmt.Errorf("audit: recording the drained offset: %w", err)
		}
		s.mu.Lock()
		s.queue = s.queue[n:]
		s.drained = end
		s.mu.Unlock()
		if err := s.maybeRotate(); err != nil {
			return total, err
		}
	}
}

// store writes one batch, falling back to one event at a time when the
// batch conflicts (some were stored before a crash).
func (s *Sink) store(ctx context.Context, batch []entry) (int, error) {
	changes := make([]store.Change, 0, len(batch))
	for _, e := range batch {
		ch, err := s.change(e)
		if err != nil {
			// A line we wrote ourselves that no longer parses: keep it in
			// the journal for a person to inspect, and go on.
			s.log.Error("audit: unreadable journal line skipped", "err", err, "offset", e.end)
			continue
		}
		changes = append(changes, ch)
	}
	if len(changes) == 0 {
		return 0, nil
	}
	_, err := s.st.Write(ctx, changes)
	if err == nil {
		return len(changes), nil
	}
	if outcome.KindOf(err) != outcome.Conflict {
		return 0, err
	}
	n := 0
	for _, ch := range changes {
		_, err := s.st.Write(ctx, []store.Change{ch})
		switch {
		case err == nil:
			n++
		case outcome.KindOf(err) == outcome.Conflict:
			// Stored before the crash: exactly once.
		default:
			return n, err
		}
	}
	return n, nil
}

func (s *Sink) change(e entry) (store.Change, error) {
	ev, err := resource.Parse(e.line)
	if err != nil {
		return store.Change{}, err
	}
	// The journal line is the stored JSON, byte for byte.
	return changeWithJSON(s.reg, ev, append([]byte(nil), e.line...))
}

// maybeRotate empties a large journal once everything in it is stored. It
// records offset 0 before truncating: a crash in between replays the whole
// journal, which the Conflict rule makes harmless.
func (s *Sink) maybeRotate() error {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size < rotateAt || s.drained != s.size || len(s.queue) > 0 {
		return nil
	}
	// Durable before the journal is emptied: an older, larger offset must
	// never come back and skip the new journal's first events.
	if err := writeFileAtomic(filepath.Join(s.dir, offsetName), []byte("0\n"), true); err != nil {
		return err
	}
	if err := s.f.Truncate(0); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	s.size, s.drained = 0, 0
	return nil
}

// Pending returns how many journaled events are not yet in the store.
func (s *Sink) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Close stops accepting records, drains the journal into the store and
// stops. An event the store refuses stays in the journal for the next Open.
func (s *Sink) Close() error {
	s.cmu.Lock()
	if s.closed {
		s.cmu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.cmu.Unlock()
	close(s.quit)
	s.wg.Wait()
	var err error
	if s.dirty {
		// The committer may have written after syncLoop's last fsync.
		err = s.f.Sync()
	}
	if !s.manual {
		_, derr := s.Drain(context.Background())
		err = errors.Join(err, derr)
	}
	return errors.Join(err, s.f.Close())
}

// abandon stops the goroutines without draining, as a crash would (tests).
func (s *Sink) abandon() {
	s.cmu.Lock()
	s.closed = true
	close(s.reqs)
	s.cmu.Unlock()
	close(s.quit)
	s.wg.Wait()
	s.f.Close()
}

// writeFileAtomic replaces name with data: write a temporary file, fsync
// when durable, rename over, fsync the directory when durable.
func writeFileAtomic(name string, data []byte, durable bool) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
