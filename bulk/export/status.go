package export

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"

	"ucp/fhir/service"
)

// manifest is the complete-status body (Bulk Data IG, "Response -
// Complete Status").
type manifest struct {
	TransactionTime     string          `json:"transactionTime"`
	Request             string          `json:"request"`
	RequiresAccessToken bool            `json:"requiresAccessToken"`
	Output              []manifestEntry `json:"output"`
	Error               []manifestEntry `json:"error"`
}

type manifestEntry struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Count int    `json:"count"`
}

// caller returns the owner key of the request's principal: 401 without one.
func caller(r *Request) (string, error) {
	owner := ownerOf(auth.FromContext(r.Context()))
	if owner == "" {
		return "", &outcome.Error{Kind: outcome.Unauthenticated, Message: "authentication required: send a Bearer token",
			Err: &auth.AuthError{Description: "authentication required"}}
	}
	return owner, nil
}

// callersJob returns the job the request names, when the request's principal
// started it (see lookup).
func (m *Manager) callersJob(r *Request) (*job, error) {
	owner, err := caller(r)
	if err != nil {
		return nil, err
	}
	return m.lookup(r.Context(), r.Params["job"], owner)
}

// handleStatus answers GET _bulk/{job}: 202 while queued or running, the
// manifest when complete, the spec's 500 OperationOutcome when failed.
func (m *Manager) handleStatus(w http.ResponseWriter, r *Request) error {
	j, err := m.callersJob(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	status, failure := j.Status, j.Failure
	man := manifest{
		TransactionTime: resource.FormatInstant(j.TransactionTime), Request: j.Request, RequiresAccessToken: true,
		Output: []manifestEntry{}, Error: []manifestEntry{},
	}
	for _, f := range j.Output {
		man.Output = append(man.Output, manifestEntry{Type: f.Type, URL: statusURL(j.Base, j.ID) + "/" + f.Name, Count: f.Count})
	}
	for _, f := range j.Errors {
		man.Error = append(man.Error, manifestEntry{Type: f.Type, URL: statusURL(j.Base, j.ID) + "/" + f.Name, Count: f.Count})
	}
	expires := j.Finished.Add(m.cfg.Expiry)
	m.mu.Unlock()
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch status {
	case statusQueued, statusRunning:
		progress := "queued"
		if status == statusRunning {
			progress = "running: " + strconv.FormatInt(j.written.Load(), 10) + " resources written"
		}
		h.Set("X-Progress", progress)
		h.Set("Retry-After", strconv.Itoa(int((m.cfg.RetryAfter+time.Second-1)/time.Second)))
		w.WriteHeader(http.StatusAccepted)
		return nil
	case statusFailed:
		// The IG's error form: 5xx with an OperationOutcome. This is the
		// one place ucp answers 500 on purpose.
		b := outcome.New(outcome.Issue{Severity: "error", Code: "exception", Diagnostics: failure}).JSON()
		h.Set("Content-Type", "application/fhir+json; charset=utf-8")
		h.Set("Expires", expires.UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusInternalServerError)
		_, err := w.Write(b)
		return err
	}
	b, err := json.Marshal(man)
	if err != nil {
		return err
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Expires", expires.UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// handleDelete answers DELETE _bulk/{job}: the job is cancelled if it
// runs, and it and its files are removed.
func (m *Manager) handleDelete(w http.ResponseWriter, r *Request) error {
	j, err := m.callersJob(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.jobs, j.ID)
	j.deleted = true
	running := j.cancel != nil
	if running {
		j.cancel() // the worker removes the job when it stops
	}
	m.mu.Unlock()
	// With a shared storage the job may run on another node: removing it
	// from the storage is what stops it there (its next write is refused).
	if !running || m.st.Shared() {
		if err := m.st.Remove(r.Context(), j.ID); err != nil {
			return outcome.Errorf(outcome.Internal, "removing export job: %v", err)
		}
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// handleFile serves one file of a complete job as NDJSON. The download is
// authorized as a search of the file's type (and so audited), in case the
// caller's access changed since the kick-off.
func (m *Manager) handleFile(w http.ResponseWriter, r *Request) error {
	j, err := m.callersJob(r)
	if err != nil {
		return err
	}
	name := r.Params["file"]
	m.mu.Lock()
	var f *file
	if j.Status == statusComplete {
		for i := range j.Output {
			if j.Output[i].Name == name {
				f = &j.Output[i]
			}
		}
		for i := range j.Errors {
			if j.Errors[i].Name == name {
				f = &j.Errors[i]
			}
		}
	}
	m.mu.Unlock()
	if f == nil || strings.ContainsAny(name, `/\`) {
		return outcome.Errorf(outcome.NotFound, "export job %s has no file %q", j.ID, name)
	}
	// The warnings file is the job's own words, not stored data.
	if f.Type != "OperationOutcome" {
		if err := r.Authorize(service.Access{Interaction: "operation", Operation: "export", Type: f.Type}); err != nil {
			return err
		}
	}
	fh, err := m.st.OpenFile(r.Context(), j.ID, name)
	if errors.Is(err, ErrGone) {
		return outcome.Errorf(outcome.NotFound, "export job %s has no file %q", j.ID, name)
	} else if err != nil {
		return err
	}
	defer fh.Close()
	w.Header().Set("Content-Type", "application/fhir+ndjson")
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r.Request, "", fh.ModTime(), fh)
	return nil
}
