package nrl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/outbox"
	"ucp/store"
)

// Service is what the publisher needs of the FHIR service.
type Service interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	Find(ctx context.Context, typ, query string, limit int) ([]store.Version, error)
	Write(ctx context.Context, w *service.Write) (*service.Result, error)
	// Visible reads a resource as the principal in ctx would see it: the
	// publisher asks whether a plan is still shared (Shared).
	Visible(ctx context.Context, typ, id string) (*store.Version, error)
}

// Sender is what the publisher needs of NRL; *Client is one.
type Sender interface {
	Search(ctx context.Context, correlation, nhsNumber, typ string) ([]Pointer, error)
	Create(ctx context.Context, correlation string, p *Pointer) (string, error)
	Delete(ctx context.Context, correlation, id string) error
}

// Defaults of PublisherConfig.
const (
	DefaultHorizon   = 72 * time.Hour
	DefaultBaseDelay = 30 * time.Second
	DefaultMaxDelay  = 30 * time.Minute
	DefaultLease     = 2 * time.Minute
	DefaultPoll      = 5 * time.Second
	// maxJobs bounds the open jobs one pass reads.
	maxJobs = 1000
)

// PublisherConfig configures a Publisher. Service, NRL and BaseURL are
// required.
type PublisherConfig struct {
	Service Service
	NRL     Sender
	// BaseURL is the FHIR base the pointers name (PointerConfig.BaseURL),
	// to recognise the publisher's own pointers on NRL.
	BaseURL string
	// Horizon is how long a job is retried before it fails; default 72 h.
	Horizon time.Duration
	// BaseDelay and MaxDelay bound the backoff between attempts: BaseDelay
	// doubled per attempt, capped at MaxDelay, with full jitter.
	BaseDelay, MaxDelay time.Duration
	// Lease is how long a claim keeps other publishers off a job.
	Lease time.Duration
	// Poll is how often Run looks for due jobs.
	Poll   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Publisher sends the outbox jobs to NRL.
type Publisher struct {
	cfg  PublisherConfig
	loop *outbox.Loop
}

// NewPublisher returns a Publisher for cfg.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Service == nil || cfg.NRL == nil || cfg.BaseURL == "" {
		return nil, errors.New("nrl: PublisherConfig.Service, NRL and BaseURL are required")
	}
	if cfg.Horizon <= 0 {
		cfg.Horizon = DefaultHorizon
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = DefaultBaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	loop := outbox.New(outbox.Config{Horizon: cfg.Horizon, BaseDelay: cfg.BaseDelay, MaxDelay: cfg.MaxDelay, Lease: cfg.Lease, Now: cfg.Now})
	return &Publisher{cfg: cfg, loop: loop}, nil
}

// Run sends due jobs every Poll until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	outbox.Run(ctx, p.cfg.Poll, p.RunOnce, func(err error) { p.cfg.Logger.Warn("NRL publisher pass", "err", err) })
}

// Depth is the number of open jobs (pending or being sent) at the last
// pass.
func (p *Publisher) Depth() int { return p.loop.Depth() }

// OldestAge is the age of the oldest open job at the last pass, 0 when
// there is none.
func (p *Publisher) OldestAge() time.Duration { return p.loop.OldestAge() }

// Open returns the open jobs (requested or in progress), oldest first.
func Open(ctx context.Context, svc Service) ([]*Job, error) {
	return jobs(ctx, svc, "requested,in-progress")
}

// Failed returns the failed jobs.
func Failed(ctx context.Context, svc Service) ([]*Job, error) {
	return jobs(ctx, svc, "failed")
}

func jobs(ctx context.Context, svc Service, status string) ([]*Job, error) {
	q := outbox.Query(JobSystem, []string{KindPublish, KindRemove, KindRemovePatient}, status)
	vs, err := svc.Find(auth.NewContext(ctx, Principal), "Task", q, maxJobs)
	if err != nil {
		return nil, err
	}
	out := make([]*Job, 0, len(vs))
	for i := range vs {
		j, err := JobOf(&vs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if !out[a].Authored.Equal(out[b].Authored) {
			return out[a].Authored.Before(out[b].Authored)
		}
		return out[a].PlanVersion < out[b].PlanVersion
	})
	return out, nil
}

// RunOnce sends every due job once, in order per patient, and returns how
// many jobs it finished (sent, or failed for good).
func (p *Publisher) RunOnce(ctx context.Context) (int, error) {
	return outbox.Pass[*Job](auth.NewContext(ctx, Principal), p.loop, nrlOutbox{p})
}

// nrlOutbox is the NRL outbox as outbox.Pass sees it. A patient's jobs
// are sent in order: a removal must never overtake the publish it undoes.
type nrlOutbox struct{ p *Publisher }

func (o nrlOutbox) Open(ctx context.Context) ([]*Job, error) { return Open(ctx, o.p.cfg.Service) }
func (nrlOutbox) State(j *Job) *outbox.State                 { return &j.State }
func (nrlOutbox) Key(j *Job) string                          { return j.Patient }
func (o nrlOutbox) Save(ctx context.Context, j *Job) error {
	_, err := o.p.save(ctx, j)
	return err
}
func (o nrlOutbox) Send(ctx context.Context, j *Job) error { return o.p.send(ctx, j) }
func (nrlOutbox) Permanent(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Permanent()
}
func (o nrlOutbox) Failed(ctx context.Context, j *Job, sendErr error) error {
	o.p.cfg.Logger.Warn("NRL job failed", "task", j.ID, "kind", j.Kind, "status", j.Status, "err", sendErr)
	return o.p.audit(ctx, j, sendErr)
}

// backoff is the delay before attempt n+1 (outbox.Loop.Backoff).
func (p *Publisher) backoff(n int) time.Duration { return p.loop.Backoff(n) }

// save writes the job's new version over the one read and returns the
// version written.
func (p *Publisher) save(ctx context.Context, j *Job) (int64, error) {
	r, err := p.cfg.Service.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "Task", ID: j.ID, Resource: j.Task(), IfMatch: j.Version})
	if err != nil {
		return 0, err
	}
	j.Version = r.Version.VersionID
	return j.Version, nil
}

// send does what the job asks of NRL. Every step is safe to repeat: a
// publish first looks for the pointer it may have made already.
func (p *Publisher) send(ctx context.Context, j *Job) error {
	plan := planOfMaster(p.cfg.BaseURL, j.PlanID)
	switch j.Kind {
	case KindPublish:
		if j.Pointer == nil {
			return &APIError{Status: 400, Diagnostics: "the job holds no pointer"}
		}
		// Only the plan's current approved version is published: a job
		// overtaken by a newer version (or by a revocation) while NRL was
		// away must never bring back what a clinician has replaced.
		if stale, err := p.stale(ctx, j); err != nil || stale != "" {
			j.Note = stale
			return err
		}
		mine, err := p.cfg.NRL.Search(ctx, j.ID, j.NHSNumber, j.Pointer.TypeCode())
		if err != nil {
			return err
		}
		var replaces []RelatesTo
		for _, ptr := range mine {
			switch {
			case ptr.Master() == j.Pointer.Master():
				j.PointerID = ptr.ID // made by an attempt whose answer was lost
				return nil
			case strings.HasPrefix(ptr.Master(), plan) && dynamicTo(&ptr, j.Pointer):
				// A dynamic pointer already serves the plan's current
				// version: it stays as it is, URL and all.
				j.PointerID = ptr.ID
				return nil
			case strings.HasPrefix(ptr.Master(), plan):
				replaces = append(replaces, RelatesTo{Code: "replaces", Target: Reference{Type: "DocumentReference", Identifier: &Identifier{Value: ptr.ID}}})
			default:
				if err := p.sweep(ctx, j, &ptr); err != nil {
					return err
				}
			}
		}
		send := *j.Pointer
		send.RelatesTo = replaces
		id, err := p.cfg.NRL.Create(ctx, j.ID, &send)
		if err != nil {
			return err
		}
		j.PointerID = id
		return nil
	case KindRemove, KindRemovePatient:
		mine, err := p.cfg.NRL.Search(ctx, j.ID, j.NHSNumber, "")
		if err != nil {
			return err
		}
		for _, ptr := range mine {
			// A removal takes the pointers of the plan's versions up to
			// its own (the version that stopped sharing it, or for one
			// queued at start the version last published), never one of a
			// later re-approval.
			if j.Kind == KindRemove && (!strings.HasPrefix(ptr.Master(), plan) || versionOf(ptr.Master(), plan) > j.PlanVersion) {
				if err := p.sweep(ctx, j, &ptr); err != nil {
					return err
				}
				continue
			}
			if err := p.cfg.NRL.Delete(ctx, j.ID, ptr.ID); err != nil {
				return err
			}
		}
		return nil
	}
	return &APIError{Status: 400, Diagnostics: "unknown job kind " + j.Kind}
}

// sweep deletes a pointer of this service's found on NRL for another plan
// of the patient when that plan is no longer shared: one left behind by a
// revocation, withdrawal or death while publishing was off, or by a job
// that failed for good. A pointer of another service, or of a plan still
// shared, is left alone.
func (p *Publisher) sweep(ctx context.Context, j *Job, ptr *Pointer) error {
	plan := PlanOfMaster(p.cfg.BaseURL, ptr.Master())
	if plan == "" || plan == j.PlanID {
		return nil
	}
	shared, err := Shared(ctx, p.cfg.Service, plan)
	if err != nil || shared {
		return err
	}
	return p.cfg.NRL.Delete(ctx, j.ID, ptr.ID)
}

// dynamicTo says whether an earlier pointer of a plan is the dynamic
// pointer the job would send: the same content items at the same URLs,
// always serving the current version. One with other items (published
// before --nrl-structured changed) is
// superseded.
func dynamicTo(have, want *Pointer) bool {
	if len(want.Content) == 0 || want.Stability() != StabilityDynamic || have.Stability() != StabilityDynamic || len(have.Content) != len(want.Content) {
		return false
	}
	for i := range want.Content {
		h, w := have.Content[i].Attachment, want.Content[i].Attachment
		if h.URL != w.URL || h.ContentType != w.ContentType {
			return false
		}
	}
	return true
}

// stale says why a publish job must not be sent ("" when it must): its
// plan is no longer at the job's version, or no longer active.
func (p *Publisher) stale(ctx context.Context, j *Job) (string, error) {
	v, err := p.cfg.Service.Read(ctx, "CarePlan", j.PlanID)
	if k := outcome.KindOf(err); k == outcome.NotFound || k == outcome.Gone {
		return fmt.Sprintf("not sent: CarePlan/%s is gone", j.PlanID), nil
	}
	if err != nil {
		return "", err
	}
	plan, err := resource.Parse(v.JSON)
	if err != nil {
		return "", err
	}
	if v.VersionID != j.PlanVersion || resource.Str(plan, "status") != "active" {
		return fmt.Sprintf("not sent: CarePlan/%s is now version %d (%s)", j.PlanID, v.VersionID, resource.Str(plan, "status")), nil
	}
	return "", nil
}

// versionOf is the plan version a masterIdentifier with the prefix plan
// names, 0 when it names none.
func versionOf(master, plan string) int64 {
	n, err := strconv.ParseInt(strings.TrimPrefix(master, plan), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// audit records a failed attempt as an AuditEvent (DICOM Export: a
// disclosure to a national service), naming the job and the patient.
func (p *Publisher) audit(ctx context.Context, j *Job, sendErr error) error {
	action := "C"
	if j.Kind != KindPublish {
		action = "D"
	}
	ev := outbox.AuditEvent(outbox.Audit{Principal: Principal, Action: action, Failed: j.Status == outbox.Failed,
		Desc: "NRL " + j.Kind + " (" + j.Status + "): " + sendErr.Error(), Task: j.ID, Patient: j.Patient, Recorded: p.cfg.Now()})
	_, err := p.cfg.Service.Write(ctx, &service.Write{Interaction: "create", Method: "POST", Type: "AuditEvent", Resource: ev})
	return err
}
