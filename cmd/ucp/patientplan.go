package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"ucp/careplan"
	"ucp/fhir/rest"
	"ucp/fhir/service"
	"ucp/metrics"
	"ucp/notify"
	"ucp/patientplan"
	"ucp/store"
)

// mailConfig is the email outbox's configuration, from the --smtp-* and
// --mail-* flags.
type mailConfig struct {
	SMTPURL          string
	SMTPCA           string
	From             string
	Link             string
	PracticeOverride string
	Horizon          time.Duration
	Poll             time.Duration
	Backoff          time.Duration
}

func addMailFlags(fs *flag.FlagSet, c *mailConfig) {
	fs.StringVar(&c.SMTPURL, "smtp-url", "", "send email through this submission server, `smtp://user:pass@host:port` (STARTTLS and authentication required); email is off without it, and its jobs wait")
	fs.StringVar(&c.SMTPCA, "smtp-ca", "", "PEM `FILE` of the CA that signed the SMTP server's certificate, when it is not one the system trusts")
	fs.StringVar(&c.From, "mail-from", "", "the `ADDRESS` email is sent from")
	fs.StringVar(&c.Link, "mail-link", "", "the sign-in `URL` emails link to (default: the server's origin)")
	fs.StringVar(&c.PracticeOverride, "mail-practice-override", "", "send every practice's email to this `ADDRESS` instead of the practice's Organization email")
	fs.DurationVar(&c.Horizon, "mail-horizon", notify.DefaultHorizon, "how long an email is retried before it fails (`duration`)")
	fs.DurationVar(&c.Poll, "mail-poll", notify.DefaultPoll, "how often the email publisher looks for due jobs (`duration`)")
	fs.DurationVar(&c.Backoff, "mail-backoff", notify.DefaultBaseDelay, "the first retry's delay after sending failed; it doubles per attempt up to 30m, with jitter (`duration`)")
}

// smtp is the mail sender the flags describe, nil when email is off.
func (c mailConfig) smtp() (*notify.SMTP, error) {
	if c.SMTPURL == "" {
		if c.From != "" {
			return nil, errors.New("--mail-from needs --smtp-url")
		}
		return nil, nil
	}
	s, err := notify.ParseSMTPURL(c.SMTPURL, c.From)
	if err != nil {
		return nil, err
	}
	if c.SMTPCA != "" {
		pem, err := os.ReadFile(c.SMTPCA)
		if err != nil {
			return nil, fmt.Errorf("--smtp-ca: %w", err)
		}
		s.RootCAs = x509.NewCertPool()
		if !s.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--smtp-ca %s: no PEM certificate", c.SMTPCA)
		}
	}
	return s, nil
}

// patientRules wraps the care-plan rules with those of patient-started
// plans and the guard that keeps clients from writing email jobs.
func patientRules(plans *careplan.Plans, st store.Store) service.WriteInterceptor {
	return &patientplan.Rules{Next: notify.JobGuard{Next: plans}, Store: st}
}

// mailRunner is the running email publisher and the completer of the
// practices' Tasks.
type mailRunner struct {
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// Close stops the publisher and the completer; an email being sent is
// tried again after its lease.
func (r *mailRunner) Close() {
	if r == nil {
		return
	}
	r.stop()
	r.wg.Wait()
}

func (r *mailRunner) run(f func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// startMail starts the completer of the practices' Tasks and the email
// publisher (both acting through svc, as patientplan.Principal and
// notify.Principal) and adds the email queue to the metrics; with email off
// it says so.
func startMail(ctx context.Context, c mailConfig, svc *service.Service, base string, mx *metrics.Metrics, log *slog.Logger) (*mailRunner, error) {
	sender, err := c.smtp()
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r := &mailRunner{stop: stop}
	poll := c.Poll
	if poll <= 0 {
		poll = notify.DefaultPoll
	}
	completer := &patientplan.Completer{Service: svc, Logger: log}
	r.run(func() { completer.Run(runCtx, poll) })
	if sender == nil {
		log.Info("email is off (no --smtp-url): practices are not emailed when a patient sends their answers; the jobs wait until it is on")
		return r, nil
	}
	link := c.Link
	if link == "" {
		link = strings.TrimSuffix(publicOrigin(base), "/") + "/"
	}
	pub, err := notify.NewPublisher(notify.PublisherConfig{Service: svc, Mailer: sender, SignInURL: link, PracticeOverride: c.PracticeOverride,
		Horizon: c.Horizon, Poll: c.Poll, BaseDelay: c.Backoff, Logger: log})
	if err != nil {
		r.Close()
		return nil, err
	}
	mx.WatchOutbox("email", pub)
	r.run(func() { pub.Run(runCtx) })
	log.Info("email on", "smtp", fmt.Sprintf("%s:%d", sender.Host, sender.Port), "from", sender.From, "link", link)
	return r, nil
}

// registerPatientPlans adds QuestionnaireResponse/{id}/$create-plan and
// CarePlan/{id}/$ask-for-change,
// through the API server's own service, so the caller's authorisation, the
// care-plan rules and the audit apply to what it writes.
func registerPatientPlans(api *rest.Server) error {
	if err := api.RegisterOperation(patientplan.CreatePlanOperation(api.Service(), nil)); err != nil {
		return err
	}
	return api.RegisterOperation(patientplan.AskForChangeOperation(api.Service(), nil))
}
