package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/notify"
	"ucp/notify/mailpittest"
)

func TestParseSMTPURL(t *testing.T) {
	for _, tc := range []struct {
		raw, from string
		want      *notify.SMTP
		wantErr   string
	}{
		{raw: "smtp://ucp:s3cret@mail.example.nhs.uk:587", from: "care-plans@example.nhs.uk",
			want: &notify.SMTP{Host: "mail.example.nhs.uk", Port: 587, User: "ucp", Password: "s3cret", From: "care-plans@example.nhs.uk"}},
		{raw: "smtp://ucp:s3cret@mail.example.nhs.uk", from: "a@example.nhs.uk",
			want: &notify.SMTP{Host: "mail.example.nhs.uk", Port: 587, User: "ucp", Password: "s3cret", From: "a@example.nhs.uk"}},
		{raw: "smtps://ucp:s3cret@mail.example.nhs.uk", from: "a@example.nhs.uk", wantErr: "want smtp://"},
		{raw: "smtp://mail.example.nhs.uk:587", from: "a@example.nhs.uk", wantErr: "needs a user and password"},
		{raw: "smtp://ucp:s3cret@mail.example.nhs.uk:99999", from: "a@example.nhs.uk", wantErr: "bad port"},
		{raw: "smtp://ucp:s3cret@mail.example.nhs.uk", from: "", wantErr: "--mail-from"},
		{raw: "smtp://ucp:s3cret@mail.example.nhs.uk", from: "not an address", wantErr: "--mail-from"},
		{raw: "::", from: "a@example.nhs.uk", wantErr: "not a URL"},
	} {
		got, err := notify.ParseSMTPURL(tc.raw, tc.from)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseSMTPURL(%q): err %v, want one saying %q", tc.raw, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("ParseSMTPURL(%q): the error shows the password: %v", tc.raw, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSMTPURL(%q): %v", tc.raw, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("ParseSMTPURL(%q) (-want +got):\n%s", tc.raw, d)
		}
	}
}

// FuzzParseSMTPURL: whatever the flag says, the parser answers without
// panicking and never puts the password in its error.
func FuzzParseSMTPURL(f *testing.F) {
	f.Add("smtp://u:p@h:25", "a@b.example")
	f.Add("smtp://u:%zz@h", "a@b")
	f.Fuzz(func(t *testing.T, raw, from string) {
		s, err := notify.ParseSMTPURL(raw, from)
		if err == nil && (s.Host == "" || s.User == "" || s.Port < 1 || s.Port > 65535) {
			t.Fatalf("accepted %q as %+v", raw, s)
		}
		if err != nil && s != nil {
			t.Fatalf("both a result and an error for %q", raw)
		}
	})
}

// TestComposeCarriesNoClinicalDetail: every email says only that something
// waits, and where to sign in.
func TestComposeCarriesNoClinicalDetail(t *testing.T) {
	for _, kind := range []string{notify.KindPlanRequested, notify.KindChangeRequested, notify.KindPlanApproved} {
		m, err := notify.Compose(kind, "gp@example.nhs.uk", "https://ucp.example.nhs.uk/")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Body, "https://ucp.example.nhs.uk/") || m.To != "gp@example.nhs.uk" || m.Subject == "" {
			t.Errorf("%s: %+v", kind, m)
		}
	}
	if _, err := notify.Compose("diagnosis", "a@b", "x"); err == nil {
		t.Error("an unknown kind was composed")
	}
}

// TestSMTPSend sends through a real SMTP server with STARTTLS and
// authentication; with the server down the error says so and is not
// permanent, so the job is retried.
func TestSMTPSend(t *testing.T) {
	mp := mailpittest.Start(t)
	host, port, _ := strings.Cut(mp.SMTPAddr, ":")
	s, err := notify.ParseSMTPURL("smtp://ucp:pw@"+host+":"+port, "care-plans@ucp.example.nhs.uk")
	if err != nil {
		t.Fatal(err)
	}
	s.RootCAs = mp.CA
	ctx := context.Background()
	if err := s.Send(ctx, notify.Message{To: "f84012@nhs.example", Subject: "Hello", Body: "Sign in: https://x/"}); err != nil {
		t.Fatal(err)
	}
	msgs := mp.Messages()
	if len(msgs) != 1 || msgs[0].To[0].Address != "f84012@nhs.example" || msgs[0].From.Address != "care-plans@ucp.example.nhs.uk" ||
		msgs[0].Subject != "Hello" || !strings.Contains(msgs[0].Text, "Sign in: https://x/") {
		t.Fatalf("inbox: %+v", msgs)
	}
	// Without the server's CA the STARTTLS handshake fails: no plain text.
	s.RootCAs = nil
	if err := s.Send(ctx, notify.Message{To: "f84012@nhs.example", Subject: "x", Body: "x"}); err == nil {
		t.Error("sent to a server whose certificate is not trusted")
	}
	s.RootCAs = mp.CA
	mp.Down()
	err = s.Send(ctx, notify.Message{To: "f84012@nhs.example", Subject: "x", Body: "x"})
	var pe *notify.PermanentError
	if err == nil || errors.As(err, &pe) {
		t.Errorf("with SMTP down: %v, want a temporary error", err)
	}
}
