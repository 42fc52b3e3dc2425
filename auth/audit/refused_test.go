package audit_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"ucp/auth/audit"
)

// Refused logins are audited per source address: the first of a window at
// once, the rest of the window counted into one event when it ends, and
// none lost uncounted, however many are sent.
func TestRefusedLoginsCountedPerAddress(t *testing.T) {
	st, reg := mustSetup(t)
	s, err := audit.Open(t.TempDir(), st, reg, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	rl := audit.NewRefusedLoginsAt(s, time.Minute, func() time.Time { return clock })
	refuse := func(addr string) {
		r := httptest.NewRequest(http.MethodGet, "/fhir/CarePlan?status=active", nil)
		r.RemoteAddr = addr + ":40000"
		rl.Record(r, errors.New("token is expired"))
	}
	sent := 0
	for range 50 { // a flood from one address, within a minute
		refuse("10.0.0.1")
		sent++
		clock = clock.Add(500 * time.Millisecond)
	}
	refuse("10.0.0.2")
	sent++
	rl.FlushEnded() // no window has ended yet
	clock = clock.Add(time.Minute)
	rl.FlushEnded()    // 10.0.0.1's window ends: its 49 more
	refuse("10.0.0.1") // a new window: at once
	refuse("10.0.0.1") // counted, recorded on Close
	sent += 2
	rl.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	events := mustSearch(t, st, reg, "AuditEvent", "type="+url.QueryEscape("http://dicom.nema.org/resources/ontology/DCM|110114"))
	if len(events) != 5 {
		t.Fatalf("%d AuditEvents of refused logins, want 5 (3 first of a window, 2 counts)", len(events))
	}
	if counted := countRefusals(t, events); counted != sent {
		t.Errorf("the events account for %d refusals, %d were sent", counted, sent)
	}
	if got := mustSearch(t, st, reg, "AuditEvent", "address=10.0.0.1"); len(got) != 4 {
		t.Errorf("AuditEvent?address=10.0.0.1: %d, want 4", len(got))
	}
}

// countRefusals returns how many refused logins the AuditEvents account
// for, checking each is well formed.
func countRefusals(t *testing.T, events []map[string]any) int {
	t.Helper()
	counted := 0
	for _, ev := range events {
		desc, _ := ev["outcomeDesc"].(string)
		if ev["outcome"] != "4" || ev["action"] != "E" {
			t.Errorf("outcome %v, action %v: want 4 and E", ev["outcome"], ev["action"])
		}
		var n int
		if _, err := fmt.Sscanf(desc, "refused %d more times", &n); err == nil {
			if ev["period"] == nil || !strings.Contains(desc, "token is expired") {
				t.Errorf("a count without its period or last reason: %v", ev)
			}
			counted += n
			continue
		}
		if desc != "refused: token is expired" || ev["entity"] == nil {
			t.Errorf("a first refusal without its reason or request: %v", ev)
		}
		counted++
	}
	return counted
}

// A crash (kill -9: nothing closed, nothing flushed, the journal not
// drained) loses no counted refusal: the next start records the counts, and
// a second crash right after does not count them twice.
func TestRefusedLoginsSurviveACrash(t *testing.T) {
	st, reg := mustSetup(t)
	dir := t.TempDir()
	clock := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	sent := 0
	refuse := func(rl *audit.RefusedLogins, addr string, n int) {
		for range n {
			r := httptest.NewRequest(http.MethodGet, "/fhir/CarePlan", nil)
			r.RemoteAddr = addr + ":40000"
			rl.Record(r, errors.New("token is expired"))
			sent++
			clock = clock.Add(time.Second)
		}
	}
	open := func() (*audit.Sink, *audit.RefusedLogins) {
		s, err := audit.Open(dir, st, reg, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s, audit.NewRefusedLoginsAt(s, time.Minute, now)
	}

	s, rl := open()
	refuse(rl, "10.0.0.1", 30) // a flood: the first at once, 29 counted
	refuse(rl, "10.0.0.2", 5)
	s.Abandon() // crash: rl is never closed

	s, rl = open()
	refuse(rl, "10.0.0.1", 3) // still within the minute, but a new process
	s.Abandon()

	s, rl = open()
	rl.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	events := mustSearch(t, st, reg, "AuditEvent", "type="+url.QueryEscape("http://dicom.nema.org/resources/ontology/DCM|110114"))
	if counted := countRefusals(t, events); counted != sent {
		t.Errorf("after two crashes the events account for %d refusals, %d were sent", counted, sent)
	}
	// Still a handful of events, not one per refusal: 3 firsts (one per
	// address and process) and 3 counts.
	if len(events) != 6 {
		t.Errorf("%d AuditEvents of refused logins, want 6", len(events))
	}
}
