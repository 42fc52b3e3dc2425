package nrl

import (
	"context"
	"errors"
	"testing"
	"time"

	"ucp/auth"
	"ucp/fhir/service"
	"ucp/internal/resttest"
	"ucp/outbox"
	"ucp/outbox/outboxtest"
)

// TestOutboxConformance runs the outbox suite on the NRL outbox.
func TestOutboxConformance(t *testing.T) {
	ctx := auth.NewContext(context.Background(), Principal)
	outboxtest.Run(t, ctx, func(t *testing.T) outboxtest.Harness[*Job] {
		svc, err := service.New(service.Config{Store: resttest.OpenStore(t), Registry: resttest.NewRegistry(t)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPublisher(PublisherConfig{Service: svc, NRL: unsent{}, BaseURL: "https://ucp.example.nhs.uk/fhir"})
		if err != nil {
			t.Fatal(err)
		}
		add := func(ctx context.Context, patient string, authored time.Time) error {
			j := &Job{Kind: KindRemovePatient, Patient: patient, NHSNumber: "9000000009", Reason: "patient deceased",
				State: outbox.State{Status: outbox.Requested, Authored: authored}}
			_, err := svc.Write(ctx, &service.Write{Interaction: "create", Method: "POST", Type: "Task", Resource: j.Task()})
			return err
		}
		return outboxtest.Harness[*Job]{Outbox: nrlOutbox{p}, Add: add, Ordered: true}
	})
}

// unsent is a Sender the suite never reaches: it sends nothing.
type unsent struct{}

var errUnsent = errors.New("the outbox suite sends nothing to NRL")

func (unsent) Search(context.Context, string, string, string) ([]Pointer, error) {
	return nil, errUnsent
}
func (unsent) Create(context.Context, string, *Pointer) (string, error) { return "", errUnsent }
func (unsent) Delete(context.Context, string, string) error             { return errUnsent }
