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
	if counted != sent {
		t.Errorf("the events account for %d refusals, %d were sent", counted, sent)
	}
	if got := mustSearch(t, st, reg, "AuditEvent", "address=10.0.0.1"); len(got) != 4 {
		t.Errorf("AuditEvent?address=10.0.0.1: %d, want 4", len(got))
	}
}
