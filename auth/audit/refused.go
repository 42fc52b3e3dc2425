package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"ucp/fhir/resource"
	"ucp/profiles"
)

// RefusedLogins audits requests refused because their bearer token is not
// valid (expired, forged, for another audience, malformed): DICOM 110114
// User Authentication, subtype 110122 Login, outcome 4. A request with no
// token at all is not one of these; the REST layer audits it like any
// other refused request.
//
// Anyone can send bad tokens for free, and each AuditEvent is a journal
// line fsynced before the response, so these are counted per source
// address and window: the first refusal from an address in a window is
// recorded at once, with the request that made it; the window's later ones
// are recorded together as one event (how many, over which period, the last
// reason) when the window ends. Nothing is dropped uncounted. Past
// maxRefusedAddrs addresses at once, further addresses share one count.
//
// The counts survive a crash: each counted refusal appends the window's
// running count to a small file beside the audit journal (written, not
// fsynced each time: an attacker's flood must not become a flood of
// fsyncs; the ticker fsyncs it). When a window's count is journaled as an
// AuditEvent, a line says so. On start the counts that were never recorded
// are recorded at once. The count's AuditEvent id is fixed when its window
// opens, so recording it twice (a crash between the event and the line
// saying so) stores it once.
type RefusedLogins struct {
	sink   *Sink
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	windows map[string]*refusedWindow // by address
	// ending are windows taken out of windows whose count is not yet
	// journaled as an AuditEvent, by id: a compaction of the counts file
	// must keep them.
	ending map[string]*refusedWindow
	f      *os.File // the counts file; under mu
	size   int64

	stop chan struct{}
	done chan struct{}
}

type refusedWindow struct {
	ID    string    `json:"id"` // of the AuditEvent that will record the count
	Addr  string    `json:"addr"`
	Start time.Time `json:"start"`
	More  int       `json:"more"` // refusals after the first, not yet recorded
	Last  time.Time `json:"last"` // the latest of them
	Why   string    `json:"why"`  // and its reason
	// Done marks, in the counts file, a window whose count is journaled.
	Done bool `json:"done,omitempty"`
}

const (
	// RefusedWindow is how long the refusals from one address are counted
	// together.
	RefusedWindow = time.Minute
	// maxRefusedAddrs bounds the addresses counted at once (memory, under a
	// flood from many addresses); beyond it they share manyAddrs.
	maxRefusedAddrs = 10000
	manyAddrs       = "many addresses"
	// refusedName is the counts file, in the audit journal's directory.
	refusedName = "refused.counts"
	// refusedCompactAt is the size above which the counts file is
	// rewritten with only the counts still open.
	refusedCompactAt = 1 << 20
)

// NewRefusedLogins records into s, counting per window (RefusedWindow when
// not positive). It first records the counts a crash left unrecorded.
// Close it before s.
func NewRefusedLogins(s *Sink, window time.Duration) (*RefusedLogins, error) {
	return newRefusedLogins(s, window, time.Now, true)
}

func newRefusedLogins(s *Sink, window time.Duration, now func() time.Time, ticking bool) (*RefusedLogins, error) {
	if window <= 0 {
		window = RefusedWindow
	}
	rl := &RefusedLogins{sink: s, window: window, now: now, windows: map[string]*refusedWindow{},
		ending: map[string]*refusedWindow{}, stop: make(chan struct{}), done: make(chan struct{})}
	if err := rl.recover(); err != nil {
		return nil, err
	}
	if !ticking {
		close(rl.done)
		return rl, nil
	}
	go func() {
		defer close(rl.done)
		t := time.NewTicker(window / 4)
		defer t.Stop()
		for {
			select {
			case <-rl.stop:
				return
			case <-t.C:
				rl.flush(false)
				rl.sync()
			}
		}
	}()
	return rl, nil
}

// recover records the counts in the counts file that no line marks done,
// then empties it.
func (rl *RefusedLogins) recover() error {
	name := filepath.Join(rl.sink.dir, refusedName)
	data, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: refused logins: %w", err)
	}
	open := map[string]*refusedWindow{}
	var order []string
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		var w refusedWindow
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &w) != nil || w.ID == "" {
			continue // a torn last line: never counted in a response
		}
		if w.Done {
			delete(open, w.ID)
			continue
		}
		if _, seen := open[w.ID]; !seen {
			order = append(order, w.ID)
		}
		// Each line is the window's running count; the last one holds.
		open[w.ID] = &w
	}
	for _, id := range order {
		if w, ok := open[id]; ok {
			if err := rl.recordMore(w); err != nil {
				return fmt.Errorf("audit: refused logins counted before a restart: %w", err)
			}
		}
	}
	// Every count is in the journal now: start an empty file.
	if err := writeFileAtomic(name, nil, true); err != nil {
		return fmt.Errorf("audit: refused logins: %w", err)
	}
	rl.f, err = os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: refused logins: %w", err)
	}
	return nil
}

// Record audits one refused request (the verifier middleware's hook).
func (rl *RefusedLogins) Record(r *http.Request, err error) {
	addr := r.RemoteAddr
	if host, _, splitErr := net.SplitHostPort(addr); splitErr == nil {
		addr = host
	}
	why := "invalid token"
	if err != nil {
		why = err.Error()
	}
	now := rl.now()
	rl.mu.Lock()
	if _, counted := rl.windows[addr]; !counted && len(rl.windows) >= maxRefusedAddrs {
		addr = manyAddrs
	}
	w := rl.windows[addr]
	var ended *refusedWindow
	if w != nil && now.Sub(w.Start) >= rl.window {
		ended, w = w, nil
		delete(rl.windows, addr)
	}
	first := w == nil
	if first {
		rl.windows[addr] = &refusedWindow{ID: newEventID(), Addr: addr, Start: now}
	} else {
		w.More, w.Last, w.Why = w.More+1, now, why
		rl.write(w)
	}
	if ended != nil {
		rl.ending[ended.ID] = ended
	}
	rl.mu.Unlock()
	if ended != nil {
		rl.finish(ended)
	}
	if first {
		rl.append(refusedEvent(addr, now, r.Method+" "+r.URL.Path, "refused: "+why, newEventID()))
	}
}

// flush records the counts of the windows that have ended, or of all of
// them (closing).
func (rl *RefusedLogins) flush(all bool) {
	now := rl.now()
	var out []*refusedWindow
	rl.mu.Lock()
	for addr, w := range rl.windows {
		if all || now.Sub(w.Start) >= rl.window {
			delete(rl.windows, addr)
			rl.ending[w.ID] = w
			out = append(out, w)
		}
	}
	rl.mu.Unlock()
	for _, w := range out {
		rl.finish(w)
	}
}

// finish records the count of the ended window w and, once it is in the
// journal, marks it done in the counts file. A count the sink refuses
// stays in the file, for the next start.
func (rl *RefusedLogins) finish(w *refusedWindow) {
	if err := rl.recordMore(w); err != nil {
		rl.sink.log.ErrorContext(context.Background(), "audit: count of refused logins NOT recorded; kept for the next start",
			"err", err, "id", w.ID, "addr", w.Addr, "count", w.More)
		return
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	delete(rl.ending, w.ID)
	if w.More > 0 {
		rl.write(&refusedWindow{ID: w.ID, Done: true})
	}
	if len(rl.windows) == 0 && len(rl.ending) == 0 && rl.size > 0 {
		// Nothing is open: the whole file is done.
		rl.compact()
	}
}

// recordMore journals the refusals of w after its first, if any.
func (rl *RefusedLogins) recordMore(w *refusedWindow) error {
	if w.More == 0 {
		return nil
	}
	ev := refusedEvent(w.Addr, w.Last, "", fmt.Sprintf("refused %d more times from %s since %s; the last: %s",
		w.More, w.Addr, resource.FormatInstant(w.Start.UTC()), w.Why), w.ID)
	addPeriod(ev, w.Start, w.Last)
	return rl.sink.Append(ev)
}

// write appends w's state to the counts file; under mu. It is not fsynced
// here (see RefusedLogins): the write alone survives a crash of the
// process.
func (rl *RefusedLogins) write(w *refusedWindow) {
	if rl.f == nil {
		return // closed
	}
	line, _ := json.Marshal(w)
	n, err := rl.f.Write(append(line, '\n'))
	rl.size += int64(n)
	if err != nil {
		rl.sink.log.Error("audit: writing the count of refused logins", "err", err, "addr", w.Addr)
		return
	}
	if rl.size >= refusedCompactAt {
		rl.compact()
	}
}

// compact rewrites the counts file with one line per count still open or
// not yet journaled; under mu.
func (rl *RefusedLogins) compact() {
	var buf []byte
	for _, ws := range []map[string]*refusedWindow{rl.windows, rl.ending} {
		for _, w := range ws {
			if w.More > 0 {
				line, _ := json.Marshal(w)
				buf = append(append(buf, line...), '\n')
			}
		}
	}
	name := rl.f.Name()
	if err := writeFileAtomic(name, buf, true); err != nil {
		// The old file is still there and complete; try again later.
		rl.sink.log.Error("audit: compacting the counts of refused logins", "err", err)
		return
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		rl.sink.log.Error("audit: reopening the counts of refused logins", "err", err)
		return
	}
	rl.f.Close()
	rl.f, rl.size = f, int64(len(buf))
}

// sync fsyncs the counts file, so a power cut loses at most a tick's counts.
func (rl *RefusedLogins) sync() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.f != nil {
		if err := rl.f.Sync(); err != nil {
			rl.sink.log.Error("audit: fsync of the counts of refused logins", "err", err)
		}
	}
}

func (rl *RefusedLogins) append(ev *AuditEvent) {
	if err := rl.sink.Append(ev); err != nil {
		rl.sink.log.ErrorContext(context.Background(), "audit: refused login NOT recorded", "err", err,
			"id", ev.ID, "outcome", ev.OutcomeDesc)
	}
}

// Close stops the ticker, records every count still open and closes the
// counts file.
func (rl *RefusedLogins) Close() {
	select {
	case <-rl.stop:
	default:
		close(rl.stop)
	}
	<-rl.done
	rl.flush(true)
	rl.sync()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.f != nil {
		rl.f.Close()
		rl.f = nil
	}
}

// addPeriod sets the period of the refusals ev counts.
func addPeriod(ev *AuditEvent, start, end time.Time) {
	ev.Period = &Period{Start: resource.FormatInstant(start), End: resource.FormatInstant(end)}
}

// refusedEvent is the AuditEvent of refused logins from addr; request, when
// not empty, is the method and path of the one refused request it records.
func refusedEvent(addr string, at time.Time, request, desc, id string) *AuditEvent {
	t := resource.FormatInstant(at)
	if len(desc) > 1000 {
		desc = desc[:1000]
	}
	agent := Agent{
		Type:      Concept{Coding: []Coding{coding(sysAgentType, "humanuser", "human user")}},
		Who:       Reference{Display: "unauthenticated"},
		Requestor: true,
	}
	if addr != manyAddrs {
		agent.Network = &Network{Address: addr, Type: "2"} // 2: IP address
	} else {
		agent.Who = Reference{Display: "unauthenticated, from " + manyAddrs}
	}
	ev := &AuditEvent{
		ResourceType: "AuditEvent",
		ID:           id,
		Meta:         Meta{VersionID: "1", LastUpdated: t, Profile: []string{profiles.ProfileUKCoreAuditEvent}},
		Type:         coding(sysDICOM, "110114", "User Authentication"),
		Subtype:      []Coding{coding(sysDICOM, "110122", "Login")},
		Action:       "E",
		Recorded:     t,
		Outcome:      "4",
		OutcomeDesc:  desc,
		Source:       source(),
		Agent:        []Agent{agent},
	}
	if request != "" {
		ev.Entity = []Entity{{Type: coding(sysEntityType, "2", "System Object"), Description: request}}
	}
	return ev
}
