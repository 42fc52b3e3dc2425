package audit

import (
	"context"
	"fmt"
	"net"
	"net/http"
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
type RefusedLogins struct {
	sink   *Sink
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	windows map[string]*refusedWindow

	stop chan struct{}
	done chan struct{}
}

type refusedWindow struct {
	start time.Time
	more  int       // refusals after the first, not yet recorded
	last  time.Time // the latest of them
	why   string    // and its reason
}

const (
	// RefusedWindow is how long the refusals from one address are counted
	// together.
	RefusedWindow = time.Minute
	// maxRefusedAddrs bounds the addresses counted at once (memory, under a
	// flood from many addresses); beyond it they share manyAddrs.
	maxRefusedAddrs = 10000
	manyAddrs       = "many addresses"
)

// NewRefusedLogins records into s, counting per window (RefusedWindow when
// not positive). Close it before s.
func NewRefusedLogins(s *Sink, window time.Duration) *RefusedLogins {
	return newRefusedLogins(s, window, time.Now, true)
}

func newRefusedLogins(s *Sink, window time.Duration, now func() time.Time, ticking bool) *RefusedLogins {
	if window <= 0 {
		window = RefusedWindow
	}
	rl := &RefusedLogins{sink: s, window: window, now: now, windows: map[string]*refusedWindow{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if !ticking {
		close(rl.done)
		return rl
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
			}
		}
	}()
	return rl
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
	if w != nil && now.Sub(w.start) >= rl.window {
		ended, w = w, nil
		delete(rl.windows, addr)
	}
	first := w == nil
	if first {
		rl.windows[addr] = &refusedWindow{start: now}
	} else {
		w.more, w.last, w.why = w.more+1, now, why
	}
	rl.mu.Unlock()
	if ended != nil {
		rl.recordMore(addr, ended)
	}
	if first {
		rl.append(refusedEvent(addr, now, r.Method+" "+r.URL.Path, "refused: "+why))
	}
}

// flush records the counts of the windows that have ended, or of all of
// them (closing).
func (rl *RefusedLogins) flush(all bool) {
	now := rl.now()
	type ended struct {
		addr string
		w    *refusedWindow
	}
	var out []ended
	rl.mu.Lock()
	for addr, w := range rl.windows {
		if all || now.Sub(w.start) >= rl.window {
			delete(rl.windows, addr)
			out = append(out, ended{addr, w})
		}
	}
	rl.mu.Unlock()
	for _, e := range out {
		rl.recordMore(e.addr, e.w)
	}
}

// recordMore records the refusals of w after its first, if any.
func (rl *RefusedLogins) recordMore(addr string, w *refusedWindow) {
	if w.more == 0 {
		return
	}
	ev := refusedEvent(addr, w.last, "", fmt.Sprintf("refused %d more times from %s since %s; the last: %s",
		w.more, addr, resource.FormatInstant(w.start.UTC()), w.why))
	ev["period"] = map[string]any{"start": resource.FormatInstant(w.start.UTC().Truncate(time.Microsecond)),
		"end": resource.FormatInstant(w.last.UTC().Truncate(time.Microsecond))}
	rl.append(ev)
}

func (rl *RefusedLogins) append(ev map[string]any) {
	if err := rl.sink.Append(ev); err != nil {
		rl.sink.log.ErrorContext(context.Background(), "audit: refused login NOT recorded", "err", err,
			"id", resource.ID(ev), "outcome", ev["outcomeDesc"])
	}
}

// Close stops the ticker and records every count still open.
func (rl *RefusedLogins) Close() {
	select {
	case <-rl.stop:
	default:
		close(rl.stop)
	}
	<-rl.done
	rl.flush(true)
}

// refusedEvent is the AuditEvent of refused logins from addr; request, when
// not empty, is the method and path of the one refused request it records.
func refusedEvent(addr string, at time.Time, request, desc string) map[string]any {
	t := at.UTC().Truncate(time.Microsecond)
	if len(desc) > 1000 {
		desc = desc[:1000]
	}
	agent := map[string]any{
		"type":      map[string]any{"coding": []any{coding(sysAgentType, "humanuser", "human user")}},
		"who":       map[string]any{"display": "unauthenticated"},
		"requestor": true,
	}
	if addr != manyAddrs {
		agent["network"] = map[string]any{"address": addr, "type": "2"} // 2: IP address
	} else {
		agent["who"] = map[string]any{"display": "unauthenticated, from " + manyAddrs}
	}
	ev := map[string]any{
		"resourceType": "AuditEvent",
		"meta":         map[string]any{"profile": []any{profiles.ProfileUKCoreAuditEvent}},
		"type":         coding(sysDICOM, "110114", "User Authentication"),
		"subtype":      []any{coding(sysDICOM, "110122", "Login")},
		"action":       "E",
		"recorded":     resource.FormatInstant(t),
		"outcome":      "4",
		"outcomeDesc":  desc,
		"source":       source(),
		"agent":        []any{agent},
	}
	if request != "" {
		ev["entity"] = []any{map[string]any{
			"type":        coding(sysEntityType, "2", "System Object"),
			"description": request,
		}}
	}
	resource.SetMeta(ev, newEventID(), 1, t)
	return ev
}
