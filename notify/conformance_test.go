package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/fhir/service"
	"ucp/internal/resttest"
	"ucp/notify/mailpittest"
	"ucp/outbox"
	"ucp/outbox/outboxtest"
)

// TestOutboxConformance runs the outbox suite on the email outbox.
func TestOutboxConformance(t *testing.T) {
	ctx := auth.NewContext(context.Background(), Principal)
	outboxtest.Run(t, ctx, func(t *testing.T) outboxtest.Harness[*Job] {
		svc, err := service.New(service.Config{Store: resttest.OpenStore(t), Registry: resttest.NewRegistry(t)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPublisher(PublisherConfig{Service: svc, Mailer: unsent{}, SignInURL: "https://ucp.example.nhs.uk/"})
		if err != nil {
			t.Fatal(err)
		}
		add := func(ctx context.Context, patient string, authored time.Time) error {
			j := NewJob(KindPlanRequested, patient, "Organization/F84012", "Task/t1", authored)
			_, err := svc.Write(ctx, &service.Write{Interaction: "create", Method: "POST", Type: "Task", Resource: j.Task()})
			return err
		}
		return outboxtest.Harness[*Job]{Outbox: mailOutbox{p}, Add: add}
	})
}

// unsent is a Mailer the suite never reaches: it sends nothing.
type unsent struct{}

func (unsent) Send(context.Context, Message) error {
	return errors.New("the outbox suite sends no email")
}

// staleOutbox is the email outbox of a worker that read the open jobs
// before another worker sent them all.
type staleOutbox struct {
	mailOutbox
	jobs []*Job
}

func (o staleOutbox) Open(context.Context) ([]*Job, error) { return o.jobs, nil }

// TestTwoPublishersSendOnce: of two publishers on one store (two nodes), one
// that read the jobs before the other sent them sends none of them again:
// its claim, written over the version it read, is refused.
func TestTwoPublishersSendOnce(t *testing.T) {
	mp := mailpittest.Start(t)
	host, port, _ := strings.Cut(mp.SMTPAddr, ":")
	mailer, err := ParseSMTPURL("smtp://ucp:pw@"+host+":"+port, "care-plans@ucp.example.nhs.uk")
	if err != nil {
		t.Fatal(err)
	}
	mailer.RootCAs = mp.CA
	st, reg := resttest.OpenStore(t), resttest.NewRegistry(t)
	ctx := auth.NewContext(context.Background(), Principal)
	var pubs [2]*Publisher
	var svc *service.Service
	for i := range pubs {
		if svc, err = service.New(service.Config{Store: st, Registry: reg}); err != nil {
			t.Fatal(err)
		}
		if pubs[i], err = NewPublisher(PublisherConfig{Service: svc, Mailer: mailer, SignInURL: "https://ucp.example.nhs.uk/"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		j := NewJob(KindPlanApproved, fmt.Sprint("p", i), fmt.Sprintf("mailto:patient%d@example.org", i), "CarePlan/cp1", time.Now())
		if _, err := svc.Write(ctx, &service.Write{Interaction: "create", Method: "POST", Type: "Task", Resource: j.Task()}); err != nil {
			t.Fatal(err)
		}
	}
	read, err := mailOutbox{pubs[0]}.Open(ctx)
	if err != nil || len(read) != 3 {
		t.Fatalf("Open: %d jobs, %v; want 3", len(read), err)
	}
	if n, err := pubs[1].RunOnce(ctx); n != 3 || err != nil {
		t.Fatalf("the second publisher sent %d, %v; want 3", n, err)
	}
	if n, err := outbox.Pass[*Job](ctx, pubs[0].loop, staleOutbox{mailOutbox{pubs[0]}, read}); n != 0 || err != nil {
		t.Errorf("the first publisher, on what it read before: finished %d, %v; want 0", n, err)
	}
	if got := len(mp.Messages()); got != 3 {
		t.Errorf("%d emails sent, want 3 (one a job)", got)
	}
	done, err := Jobs(ctx, svc, "completed")
	if err != nil || len(done) != 3 {
		t.Errorf("completed jobs: %d, %v; want 3", len(done), err)
	}
}
