package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"ucp/auth"
	"ucp/auth/devissuer"

	"ucp/careplan"
	"ucp/fhir/rest"
	"ucp/fhir/service"
	"ucp/report"
	"ucp/synth"
)

// registerReporting adds the operations that write or read through a
// service built after the REST server's configuration: Patient/{id}/
// $record-death, through the API server's own service (the caller's
// authorisation and the audit apply to its writes), and Measure/{id}/
// $evaluate-measure, which reads through the trusted in-process service
// once the caller is authorised (see package report).
func registerReporting(api *rest.Server, plans *careplan.Plans, trusted *service.Service) (*report.Reports, error) {
	if err := api.RegisterOperation(plans.RecordDeathOperation(api.Service())); err != nil {
		return nil, err
	}
	reports, err := report.New(report.Config{Service: trusted})
	if err != nil {
		return nil, err
	}
	for _, op := range reports.Operations() {
		if err := api.RegisterOperation(op); err != nil {
			return nil, err
		}
	}
	return reports, nil
}

// warmReports reads what the measures use in the background, at start and
// then every hour (report.Reports.Run), so that no evaluation
// waits for the whole register to be read. stop ends the reads and waits
// for them, before the store closes.
func warmReports(ctx context.Context, reports *report.Reports, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reports.Run(ctx, log)
	}()
	return func() { cancel(); <-done }
}

// printExpected is ucp generate --expected: the measures' published values
// for the data opts generates, computed by the generator from its own story
// of each patient (synth.Expected), one "measure/group/population[/stratum]
// value" line each.
func printExpected(opts synth.Options, start, end, ods string, stdout, stderr io.Writer) int {
	from, err1 := time.Parse("2006-01-02", start)
	to, err2 := time.Parse("2006-01-02", end)
	if err1 != nil || err2 != nil || to.Before(from) {
		fmt.Fprintf(stderr, "ucp generate: --period-start %q and --period-end %q must be days (YYYY-MM-DD), the end not before the start\n", start, end)
		return 2
	}
	v, err := synth.Expected(opts, from, to, ods)
	if err != nil {
		fmt.Fprintln(stderr, "ucp generate:", err)
		return 1
	}
	if err := v.Write(stdout); err != nil {
		fmt.Fprintln(stderr, "ucp generate:", err)
		return 1
	}
	return 0
}

// measureTiming is one Measure's evaluation in ucp bench: the first after
// start (for the first Measure, with the whole register read, see package
// report) and the next, with the facts read kept current.
type measureTiming struct {
	Measure      string  `json:"measure"`
	FirstSeconds float64 `json:"first_seconds"`
	Seconds      float64 `json:"seconds"`
	Status       int     `json:"status"`
}

// benchMeasures evaluates each Measure twice over the generator's year, as
// the report role over loopback HTTP, and times it. The server's first
// evaluation reads the whole register, so its time grows with the number of
// patients; later ones read what was written since and evaluate from memory.
func benchMeasures(ctx context.Context, srv *server, stdout io.Writer) ([]measureTiming, error) {
	tok, err := srv.dev.Mint(devissuer.TokenRequest{Role: auth.RoleReport, TTL: time.Hour})
	if err != nil {
		return nil, err
	}
	measures := []string{"ucp-uptake", "ucp-quality", "ucp-outcomes", "ucp-patient-started"}
	out := make([]measureTiming, len(measures))
	for round := range 2 {
		for i, m := range measures {
			u := srv.base + "/Measure/" + m + "/$evaluate-measure?periodStart=2025-11-01&periodEnd=2026-10-31"
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if err != nil {
				return nil, err
			}
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("evaluating %s: status %d", m, resp.StatusCode)
			}
			out[i].Measure, out[i].Status = m, resp.StatusCode
			if round == 0 {
				out[i].FirstSeconds = took.Seconds()
			} else {
				out[i].Seconds = took.Seconds()
			}
		}
	}
	for _, t := range out {
		fmt.Fprintf(stdout, "$evaluate-measure %-19s first %8.3f s, then %8.3f s\n", t.Measure, t.FirstSeconds, t.Seconds)
	}
	return out, nil
}
