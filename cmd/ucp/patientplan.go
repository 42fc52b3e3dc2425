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

// mailRunner is the running email publisher.
type mailRunner struct {
	stop context.CancelFunc
	done chan struct{}
}

// Close stops the publisher; an email it was sending is tried again after
// its lease.
func (r *mailRunner) Close() {
	if r == nil {
		return
	}
	r.stop()
	<-r.done
}

// startMail starts the email publisher (sending through svc as
// notify.Principal) and adds its queue to the metrics; with email off it
// says so.
func startMail(ctx context.Context, c mailConfig, svc *service.Service, base string, mx *metrics.Metrics, log *slog.Logger) (*mailRunner, error) {
	sender, err := c.smtp()
	if err != nil || sender == nil {
		if err == nil {
			log.Info("email is off (no --smtp-url): practices are not emailed when a patient sends their answers; the jobs wait until it is on")
		}
		return nil, err
	}
	link := c.Link
	if link == "" {
		link = strings.TrimSuffix(publicOrigin(base), "/") + "/"
	}
	pub, err := notify.NewPublisher(notify.PublisherConfig{Service: svc, Mailer: sender, SignInURL: link, PracticeOverride: c.PracticeOverride,
		Horizon: c.Horizon, Poll: c.Poll, BaseDelay: c.Backoff, Logger: log})
	if err != nil {
		return nil, err
	}
	mx.WatchOutbox("email", pub)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r := &mailRunner{stop: stop, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		pub.Run(runCtx)
	}()
	log.Info("email on", "smtp", fmt.Sprintf("%s:%d", sender.Host, sender.Port), "from", sender.From, "link", link)
	return r, nil
}

// registerPatientPlans adds QuestionnaireResponse/{id}/$create-plan,
// through the API server's own service, so the caller's authorisation, the
// care-plan rules and the audit apply to what it writes.
func registerPatientPlans(api *rest.Server) error {
	return api.RegisterOperation(patientplan.CreatePlanOperation(api.Service(), nil))
}
