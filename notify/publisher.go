package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
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
	outbox.Run(ctx, p.cfg.Poll, p.RunOnce, func(err error) { p.cfg.Logger.Warn("email publisher pass", "err", err) })
}

// Depth is the number of open jobs at the last pass.
func (p *Publisher) Depth() int { return p.loop.Depth() }

// OldestAge is the age of the oldest open job at the last pass, 0 when
// there is none.
func (p *Publisher) OldestAge() time.Duration { return p.loop.OldestAge() }

// Jobs returns the email jobs of the given statuses (comma-separated),
// oldest first.
func Jobs(ctx context.Context, svc Service, status string) ([]*Job, error) {
	q := outbox.Query(JobSystem, []string{KindPlanRequested, KindPlanApproved, KindChangeRequested}, status)
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
	return outbox.Pass[*Job](auth.NewContext(ctx, Principal), p.loop, mailOutbox{p})
}

// mailOutbox is the email outbox as outbox.Pass sees it. Email jobs are
// independent: none waits for another.
type mailOutbox struct{ p *Publisher }

func (o mailOutbox) Open(ctx context.Context) ([]*Job, error) {
	return Jobs(ctx, o.p.cfg.Service, "requested,in-progress")
}
func (mailOutbox) State(j *Job) *outbox.State               { return &j.State }
func (mailOutbox) Key(*Job) string                          { return "" }
func (o mailOutbox) Save(ctx context.Context, j *Job) error { return o.p.save(ctx, j) }
func (o mailOutbox) Send(ctx context.Context, j *Job) error { return o.p.send(ctx, j) }
func (mailOutbox) Permanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}
func (o mailOutbox) Failed(ctx context.Context, j *Job, sendErr error) error {
	o.p.cfg.Logger.Warn("email job failed", "task", j.ID, "kind", j.Kind, "status", j.Status, "err", sendErr)
	return o.p.audit(ctx, j, sendErr)
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
	ev := outbox.AuditEvent(outbox.Audit{Principal: Principal, Action: "C", Failed: j.Status == outbox.Failed,
		Desc: "email " + j.Kind + " (" + j.Status + "): " + sendErr.Error(), Task: j.ID, Patient: j.Patient, Recorded: p.cfg.Now()})
	_, err := p.cfg.Service.Write(ctx, &service.Write{Interaction: "create", Method: "POST", Type: "AuditEvent", Resource: ev})
	return err
}
