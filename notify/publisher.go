package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

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
}

// Mailer sends one email; *SMTP is one.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Defaults of PublisherConfig.
const (
	DefaultHorizon   = 72 * time.Hour
	DefaultBaseDelay = 30 * time.Second
	DefaultMaxDelay  = 30 * time.Minute
	DefaultLease     = 2 * time.Minute
	DefaultPoll      = 5 * time.Second
	maxJobs          = 1000 // bounds the open jobs one pass reads
)

// PublisherConfig configures a Publisher. Service, Mailer and SignInURL are
// required.
type PublisherConfig struct {
	Service Service
	Mailer  Mailer
	// SignInURL is the link every email carries: where staff and patients
	// sign in to see what is waiting.
	SignInURL string
	// PracticeOverride, when set, receives every email meant for a
	// practice, instead of its Organization's email (a pilot, a test).
	PracticeOverride string
	// Horizon, BaseDelay, MaxDelay, Lease: see outbox.Config.
	Horizon, BaseDelay, MaxDelay, Lease time.Duration
	Poll                                time.Duration // how often Run looks for due jobs
	Now                                 func() time.Time
	Logger                              *slog.Logger
}

// Publisher sends the email jobs.
type Publisher struct {
	cfg  PublisherConfig
	loop *outbox.Loop
	mu   sync.Mutex
	// stats of the last pass, for the metrics.
	depth  int
	oldest time.Time
}

// NewPublisher returns a Publisher for cfg.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Service == nil || cfg.Mailer == nil || cfg.SignInURL == "" {
		return nil, errors.New("notify: PublisherConfig.Service, Mailer and SignInURL are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Horizon, DefaultHorizon)
	def(&cfg.BaseDelay, DefaultBaseDelay)
	def(&cfg.MaxDelay, DefaultMaxDelay)
	def(&cfg.Lease, DefaultLease)
	def(&cfg.Poll, DefaultPoll)
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
	t := time.NewTicker(p.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := p.RunOnce(ctx); err != nil && ctx.Err() == nil {
			p.cfg.Logger.Warn("email publisher pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Depth is the number of open jobs at the last pass.
func (p *Publisher) Depth() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.depth
}

// OldestAge is the age of the oldest open job at the last pass, 0 when
// there is none.
func (p *Publisher) OldestAge() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oldest.IsZero() {
		return 0
	}
	return p.cfg.Now().Sub(p.oldest)
}

// Jobs returns the email jobs of the given statuses (comma-separated),
// oldest first.
func Jobs(ctx context.Context, svc Service, status string) ([]*Job, error) {
	codes := []string{}
	for _, k := range []string{KindPlanRequested, KindPlanApproved, KindChangeRequested} {
		codes = append(codes, JobSystem+"|"+k)
	}
	q := "code=" + url.QueryEscape(strings.Join(codes, ",")) + "&status=" + url.QueryEscape(status)
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
	sort.SliceStable(out, func(a, b int) bool { return out[a].Authored.Before(out[b].Authored) })
	return out, nil
}

// RunOnce tries every due job once and returns how many it finished (sent,
// or failed for good).
func (p *Publisher) RunOnce(ctx context.Context) (int, error) {
	ctx = auth.NewContext(ctx, Principal)
	open, err := Jobs(ctx, p.cfg.Service, "requested,in-progress")
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	p.depth, p.oldest = len(open), time.Time{}
	if len(open) > 0 {
		p.oldest = open[0].Authored
	}
	p.mu.Unlock()
	done := 0
	for _, j := range open {
		finished, sendErr, err := p.loop.Try(ctx, outbox.Attempt{
			State: &j.State,
			Save:  func(ctx context.Context) error { return p.save(ctx, j) },
			Send:  func(ctx context.Context) error { return p.send(ctx, j) },
			Permanent: func(err error) bool {
				var pe *PermanentError
				return errors.As(err, &pe)
			},
		})
		if err != nil {
			return done, err
		}
		if sendErr != nil {
			p.cfg.Logger.Warn("email job failed", "task", j.ID, "kind", j.Kind, "status", j.Status, "err", sendErr)
			if err := p.audit(ctx, j, sendErr); err != nil {
				return done, err
			}
		}
		if finished {
			done++
		}
	}
	return done, nil
}

// save writes the job over the version read last.
func (p *Publisher) save(ctx context.Context, j *Job) error {
	r, err := p.cfg.Service.Write(ctx, &service.Write{Interaction: "update", Method: "PUT", Type: "Task", ID: j.ID, Resource: j.Task(), IfMatch: j.Version})
	if err != nil {
		return err
	}
	j.Version = r.Version.VersionID
	return nil
}

// send composes the job's email and sends it.
func (p *Publisher) send(ctx context.Context, j *Job) error {
	to, err := p.recipient(ctx, j)
	if err != nil {
		return err
	}
	m, err := Compose(j.Kind, to, p.cfg.SignInURL)
	if err != nil {
		return &PermanentError{Err: err}
	}
	return p.cfg.Mailer.Send(ctx, m)
}

// recipient is the address of the job's To: the patient's own, or the
// practice's generic inbox (the override, else its Organization's email).
func (p *Publisher) recipient(ctx context.Context, j *Job) (string, error) {
	if addr, ok := strings.CutPrefix(j.To, "mailto:"); ok {
		return addr, nil
	}
	if p.cfg.PracticeOverride != "" {
		return p.cfg.PracticeOverride, nil
	}
	ref := resource.ParseReference(j.To)
	if ref.Type != "Organization" || ref.ID == "" {
		return "", &PermanentError{Err: fmt.Errorf("the job's recipient %q is neither an address nor an Organization", j.To)}
	}
	v, err := p.cfg.Service.Read(ctx, "Organization", ref.ID)
	if k := outcome.KindOf(err); k == outcome.NotFound || k == outcome.Gone {
		return "", &PermanentError{Err: fmt.Errorf("the practice Organization/%s is not on record", ref.ID)}
	}
	if err != nil {
		return "", err
	}
	org, err := resource.Parse(v.JSON)
	if err != nil {
		return "", err
	}
	for _, t := range resource.List(org["telecom"]) {
		m, _ := t.(map[string]any)
		if resource.Str(m, "system") == "email" && resource.Str(m, "value") != "" && resource.Str(m, "use") != "old" {
			return resource.Str(m, "value"), nil
		}
	}
	// An admin adds the address; the job is retried until the horizon.
	return "", fmt.Errorf("the practice Organization/%s has no email address (telecom system email)", ref.ID)
}

// Compose writes the email of a job kind. It says that something is
// waiting and where to sign in; never who the patient is or what they
// wrote, since email is not a safe place for either.
func Compose(kind, to, signIn string) (Message, error) {
	var subject, body string
	switch kind {
	case KindPlanRequested:
		subject = "A patient has asked for an urgent care plan"
		body = "A patient registered with your practice has filled in their urgent care plan questionnaire and asked your practice to create their plan.\n\n" +
			"Sign in to see it in your Action needed list:\n" + signIn + "\n"
	case KindChangeRequested:
		subject = "A patient has asked for a change to their care plan"
		body = "A patient registered with your practice has asked for a change to their urgent care plan.\n\n" +
			"Sign in to see it in your Action needed list:\n" + signIn + "\n"
	case KindPlanApproved:
		subject = "Your urgent care plan is ready"
		body = "Your GP practice has approved your urgent care plan.\n\nSign in to see it:\n" + signIn + "\n"
	default:
		return Message{}, fmt.Errorf("unknown email kind %q", kind)
	}
	body += "\nThis email was sent automatically. Please do not reply.\n"
	return Message{To: to, Subject: subject, Body: body}, nil
}

// audit records a failed attempt as an AuditEvent, naming the job and the
// patient, so that admins see it (AuditEvent?entity=Task/…).
func (p *Publisher) audit(ctx context.Context, j *Job, sendErr error) error {
	outcomeCode := "4" // minor failure: it will be retried
	if j.Status == outbox.Failed {
		outcomeCode = "8"
	}
	ev := map[string]any{
		"resourceType": "AuditEvent",
		"id":           uuid.NewString(),
		"type":         map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106", "display": "Export"},
		"action":       "C",
		"recorded":     resource.FormatInstant(p.cfg.Now()),
		"outcome":      outcomeCode,
		"outcomeDesc":  "email " + j.Kind + " (" + j.Status + "): " + sendErr.Error(),
		"agent": []any{map[string]any{
			"who":       map[string]any{"display": Principal.Name, "identifier": map[string]any{"value": Principal.Subject}},
			"requestor": true,
		}},
		"source": map[string]any{"observer": map[string]any{"display": "ucp"}},
		"entity": []any{
			map[string]any{"what": map[string]any{"reference": "Task/" + j.ID}},
			map[string]any{"what": map[string]any{"reference": "Patient/" + j.Patient},
				"type": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"}},
		},
	}
	_, err := p.cfg.Service.Write(ctx, &service.Write{Interaction: "create", Method: "POST", Type: "AuditEvent", Resource: ev})
	return err
}
