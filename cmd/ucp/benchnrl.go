package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"ucp/auth"
	"ucp/auth/devissuer"
	"ucp/nrl"
	"ucp/nrl/nrltest"
)

// nrlTiming is what `ucp bench` measures of NRL publishing: an approval
// until the local NRL has accepted its pointer, and rendering a plan's PDF.
type nrlTiming struct {
	Approvals       int     `json:"approvals"`
	Poll            string  `json:"publisher_poll"`
	ApprovalP50Ms   float64 `json:"approval_to_pointer_p50_ms"`
	ApprovalP99Ms   float64 `json:"approval_to_pointer_p99_ms"`
	Renders         int     `json:"pdf_renders"`
	PDFRenderP50Ms  float64 `json:"pdf_render_p50_ms"`
	PDFRenderP99Ms  float64 `json:"pdf_render_p99_ms"`
	PDFRenderMeanMs float64 `json:"pdf_render_mean_ms"`
}

// benchNRLPoll is the publisher's poll in the NRL bench: the latency it
// measures includes up to one poll.
const benchNRLPoll = 5 * time.Millisecond

// benchNRL times NRL publishing on a server of its own (the demo on a
// SQLite file in work, publishing to the local NRL that checks every
// request against specFile): n approvals of new versions of the demo plan
// over HTTP, each until NRL has its pointer, then n renderings of the
// plan's PDF.
func benchNRL(ctx context.Context, work, specFile string, n int, stdout io.Writer) (*nrlTiming, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sb, err := nrltest.Listen(ctx, specFile, "127.0.0.1:0", quiet)
	if err != nil {
		return nil, err
	}
	defer sb.Close()
	dir := filepath.Join(work, "nrl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := startServer(ctx, serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), Demo: true, Dev: true, MaxBody: 1 << 20, MinIDAssurance: 3,
		NRL: nrlConfig{URL: sb.URL, ODS: "X26", PracticeSetting: nrl.DefaultPracticeSetting, Horizon: nrl.DefaultHorizon, Poll: benchNRLPoll, Backoff: benchNRLPoll}}, quiet)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	const nhs = "9434765919" // the demo patient
	wait := func(master string) error {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			for _, p := range sb.Pointers(nhs) {
				if p.Master() == master {
					return nil
				}
			}
			time.Sleep(200 * time.Microsecond)
		}
		return fmt.Errorf("NRL has no pointer %s after a minute", master)
	}
	deadline := time.Now().Add(time.Minute)
	for len(sb.Pointers(nhs)) == 0 {
		if time.Now().After(deadline) {
			return nil, errors.New("the demo plan's pointer never reached NRL")
		}
		time.Sleep(time.Millisecond)
	}
	plan, _, ok := strings.Cut(strings.TrimPrefix(sb.Pointers(nhs)[0].Master(), srv.base+"/CarePlan/"), "/")
	if !ok {
		return nil, fmt.Errorf("the demo pointer's masterIdentifier %s names no plan", sb.Pointers(nhs)[0].Master())
	}
	tok, err := srv.dev.Mint(devissuer.TokenRequest{Role: auth.RoleClinical, TTL: time.Hour})
	if err != nil {
		return nil, err
	}
	call := func(method string, body []byte) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, srv.base+"/CarePlan/"+plan, strings.NewReader(string(body)))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s CarePlan/%s: %d %.300s", method, plan, resp.StatusCode, b)
		}
		return b, err
	}
	t := &nrlTiming{Approvals: n, Renders: n, Poll: benchNRLPoll.String()}
	var took []time.Duration
	for i := range n {
		cur, err := call(http.MethodGet, nil)
		if err != nil {
			return nil, err
		}
		var res map[string]any
		if err := json.Unmarshal(cur, &res); err != nil {
			return nil, err
		}
		res["description"] = fmt.Sprintf("Reviewed (bench %d)", i)
		body, _ := json.Marshal(res)
		start := time.Now()
		out, err := call(http.MethodPut, body)
		if err != nil {
			return nil, err
		}
		var written struct {
			Meta struct {
				VersionID string `json:"versionId"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(out, &written); err != nil {
			return nil, err
		}
		if err := wait(srv.base + "/CarePlan/" + plan + "/_history/" + written.Meta.VersionID); err != nil {
			return nil, err
		}
		took = append(took, time.Since(start))
	}
	t.ApprovalP50Ms, t.ApprovalP99Ms = percentilesMs(took)

	// The PDF of the current version, as the publisher reads it.
	docs := nrl.Documents{Reader: srv.loader}
	d, err := docs.LoadCurrent(auth.NewContext(ctx, nrl.Principal), plan)
	if err != nil {
		return nil, err
	}
	took = took[:0]
	var sum time.Duration
	for range n {
		start := time.Now()
		if _, err := nrl.RenderPDF(d); err != nil {
			return nil, err
		}
		took = append(took, time.Since(start))
		sum += took[len(took)-1]
	}
	t.PDFRenderP50Ms, t.PDFRenderP99Ms = percentilesMs(took)
	t.PDFRenderMeanMs = float64(sum.Microseconds()) / float64(n) / 1000
	fmt.Fprintf(stdout, "NRL: approval → pointer accepted by the local NRL (publisher poll %s): p50 %.1f ms, p99 %.1f ms over %d approvals\n",
		t.Poll, t.ApprovalP50Ms, t.ApprovalP99Ms, n)
	fmt.Fprintf(stdout, "NRL: PDF rendering per plan: p50 %.2f ms, p99 %.2f ms, mean %.2f ms over %d renders\n",
		t.PDFRenderP50Ms, t.PDFRenderP99Ms, t.PDFRenderMeanMs, n)
	return t, nil
}

func percentilesMs(d []time.Duration) (p50, p99 float64) {
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return ms(d[len(d)/2]), ms(d[len(d)*99/100])
}
