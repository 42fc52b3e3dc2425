package notify

import (
	"context"
	"errors"
	"testing"
	"time"

	"ucp/auth"
	"ucp/fhir/service"
	"ucp/internal/resttest"
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
