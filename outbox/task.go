package outbox

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"ucp/auth"
	"ucp/fhir/resource"
)

// Ext names the extensions that hold a job's State on its Task. Each outbox
// has its own URLs, so that the jobs already stored stay readable.
type Ext struct {
	Attempts, Next, Lease string
}

// Encode writes the State into a job's Task: status, authoredOn, the
// extensions of ext, and the last error (statusReason once failed,
// businessStatus while retrying). Extensions already on t are replaced.
func (s *State) Encode(t map[string]any, ext Ext) {
	t["status"] = s.Status
	t["authoredOn"] = resource.FormatInstant(s.Authored)
	var x []any
	if s.Attempts > 0 {
		x = append(x, map[string]any{"url": ext.Attempts, "valueInteger": s.Attempts})
	}
	if !s.Next.IsZero() {
		x = append(x, map[string]any{"url": ext.Next, "valueInstant": resource.FormatInstant(s.Next)})
	}
	if !s.Lease.IsZero() {
		x = append(x, map[string]any{"url": ext.Lease, "valueInstant": resource.FormatInstant(s.Lease)})
	}
	delete(t, "extension")
	if len(x) > 0 {
		t["extension"] = x
	}
	delete(t, "statusReason")
	delete(t, "businessStatus")
	if s.Error != "" {
		if s.Status == Failed {
			t["statusReason"] = map[string]any{"text": s.Error}
		} else {
			t["businessStatus"] = map[string]any{"text": "retrying: " + s.Error}
		}
	}
}

// Decode reads the State of a job's stored Task (Encode's inverse). A field
// that does not parse is left zero: the job is then due, which is safe since
// every send may be repeated.
func Decode(t map[string]any, ext Ext) State {
	s := State{Status: resource.Str(t, "status")}
	s.Authored, _ = time.Parse(time.RFC3339Nano, resource.Str(t, "authoredOn"))
	for _, x := range resource.List(t["extension"]) {
		m, _ := x.(map[string]any)
		switch resource.Str(m, "url") {
		case ext.Attempts:
			n, _ := m["valueInteger"].(json.Number)
			a, _ := n.Int64()
			s.Attempts = int(max(a, 0))
		case ext.Next:
			s.Next, _ = time.Parse(time.RFC3339Nano, resource.Str(m, "valueInstant"))
		case ext.Lease:
			s.Lease, _ = time.Parse(time.RFC3339Nano, resource.Str(m, "valueInstant"))
		}
	}
	if r := resource.Str(resource.Obj(t, "statusReason"), "text"); r != "" {
		s.Error = r
	} else if r := resource.Str(resource.Obj(t, "businessStatus"), "text"); r != "" {
		s.Error = strings.TrimPrefix(r, "retrying: ")
	}
	return s
}

// Kind is the code of a Task's coding in system, and whether it has one: a
// Task with a code in an outbox's system is one of its jobs.
func Kind(task map[string]any, system string) (string, bool) {
	for _, c := range resource.List(resource.Obj(task, "code")["coding"]) {
		if m, _ := c.(map[string]any); resource.Str(m, "system") == system {
			return resource.Str(m, "code"), true
		}
	}
	return "", false
}

// Query is the Task search for an outbox's jobs of the given kinds and
// statuses (comma-separated).
func Query(system string, kinds []string, status string) string {
	codes := make([]string, len(kinds))
	for i, k := range kinds {
		codes[i] = system + "|" + k
	}
	return "code=" + url.QueryEscape(strings.Join(codes, ",")) + "&status=" + url.QueryEscape(status)
}

// Audit describes a failed attempt of a job, for AuditEvent.
type Audit struct {
	Principal *auth.Principal // the outbox's system principal
	Action    string          // C for a create (a send), D for a delete
	Failed    bool            // failed for good, not to be retried
	Desc      string          // what was tried and what went wrong
	Task      string          // the job's Task id
	Patient   string          // the patient the job is about
	Recorded  time.Time
}

// AuditEvent is the AuditEvent of a failed attempt (DICOM Export: a
// disclosure outside ucp), naming the job and the patient, so that admins
// find it (AuditEvent?entity=Task/…).
func AuditEvent(a Audit) map[string]any {
	outcomeCode := "4" // minor failure: it will be retried
	if a.Failed {
		outcomeCode = "8"
	}
	return map[string]any{
		"resourceType": "AuditEvent",
		"id":           uuid.NewString(),
		"type":         map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106", "display": "Export"},
		"action":       a.Action,
		"recorded":     resource.FormatInstant(a.Recorded),
		"outcome":      outcomeCode,
		"outcomeDesc":  a.Desc,
		"agent": []any{map[string]any{
			"who":       map[string]any{"display": a.Principal.Name, "identifier": map[string]any{"value": a.Principal.Subject}},
			"requestor": true,
		}},
		"source": map[string]any{"observer": map[string]any{"display": "ucp"}},
		"entity": []any{
			map[string]any{"what": map[string]any{"reference": "Task/" + a.Task}},
			map[string]any{"what": map[string]any{"reference": "Patient/" + a.Patient},
				"type": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"}},
		},
	}
}
