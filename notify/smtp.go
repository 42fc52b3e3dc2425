package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	mail "github.com/wneessen/go-mail"
)

// Message is one email: plain text, no attachment.
type Message struct {
	To      string
	Subject string
	Body    string
}

// SMTP sends mail through a submission server with STARTTLS (mandatory)
// and authentication, on github.com/wneessen/go-mail.
type SMTP struct {
	Host     string
	Port     int
	User     string
	Password string
	From     string
	// RootCAs verifies the server's certificate; nil uses the system's.
	RootCAs *x509.CertPool
	Timeout time.Duration // per connection; default 30 s
}

// ParseSMTPURL reads smtp://user:pass@host:port (port 587 when left out).
// The password is never in an error message.
func ParseSMTPURL(raw, from string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("--smtp-url: not a URL (smtp://user:pass@host:port)")
	}
	if u.Scheme != "smtp" || u.Hostname() == "" {
		return nil, fmt.Errorf("--smtp-url: want smtp://user:pass@host:port, got scheme %q host %q", u.Scheme, u.Hostname())
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, errors.New("--smtp-url: needs a user and password (smtp://user:pass@host:port): ucp sends only with authentication")
	}
	pass, _ := u.User.Password()
	port := 587
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("--smtp-url: bad port %q", p)
		}
	}
	m := mail.NewMsg()
	if from == "" || m.From(from) != nil {
		return nil, fmt.Errorf("--mail-from: %q is not an email address", from)
	}
	return &SMTP{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pass, From: from}, nil
}

// Send sends m, or returns why not; a *PermanentError when the server
// refused the recipient for good.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := mail.NewMsg()
	if err := msg.From(s.From); err != nil {
		return &PermanentError{Err: fmt.Errorf("from %q: %w", s.From, err)}
	}
	if err := msg.To(m.To); err != nil {
		return &PermanentError{Err: fmt.Errorf("to %q: %w", m.To, err)}
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(mail.TypeTextPlain, m.Body)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	c, err := mail.NewClient(s.Host,
		mail.WithPort(s.Port),
		mail.WithTLSPolicy(mail.TLSMandatory),
		mail.WithTLSConfig(&tls.Config{ServerName: s.Host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}),
		mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
		mail.WithUsername(s.User), mail.WithPassword(s.Password),
		mail.WithTimeout(timeout),
	)
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *mail.SendError
		if errors.As(err, &se) && se.Reason == mail.ErrSMTPRcptTo && se.ErrorCode() >= 500 {
			return &PermanentError{Err: err}
		}
		var ne net.Error
		if errors.As(err, &ne) {
			return fmt.Errorf("smtp %s:%d: %w", s.Host, s.Port, err)
		}
		return err
	}
	return nil
}

// PermanentError is a send that will never succeed (no address for the
// practice, a recipient the server refuses): the job fails at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }
