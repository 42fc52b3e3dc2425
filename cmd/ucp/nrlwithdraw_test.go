package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/internal/resttest"
	"ucp/nrl"
	"ucp/nrl/nrltest"
)

// waitNoPendingNRL waits until $nrl-status reports no pending job.
func waitNoPendingNRL(t *testing.T, srv *server) {
	t.Helper()
	admin := token(t, srv, auth.RoleAdmin)
	var last string
	waitFor(t, "no pending NRL job", func() bool {
		r := resttest.Do(t, http.MethodGet, srv.base+"/$nrl-status", "", resttest.Bearer(admin))
		last = string(r.Body)
		return r.Status == http.StatusOK && resttest.Path(r.JSON(t), "parameter.0.valueInteger") == resttest.Num(0)
	})
	if t.Failed() {
		t.Logf("last $nrl-status: %.3000s", last)
	}
}

// A plan revoked while publishing was off loses its pointer at the next
// start with publishing on, through one removal job however often the
// server starts.
func TestServeNRLWithdrawsAtStart(t *testing.T) {
	sb := nrltest.Start(t)
	on := nrlConfig{URL: sb.URL, ODS: nrlODS, PracticeSetting: nrl.DefaultPracticeSetting, Horizon: nrl.DefaultHorizon, Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond}
	// One address across the restarts: the pointers name the FHIR base,
	// and the publisher knows its own by it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := serveConfig{Addr: addr, Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3, NRL: on}
	start := func() *server {
		t.Helper()
		srv, err := startServer(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	closeSrv := func(srv *server) {
		t.Helper()
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
	}

	first := start()
	waitFor(t, "the demo plan's pointer", func() bool { return len(sb.Pointers(joansNHS)) == 1 })
	waitNoPendingNRL(t, first)
	closeSrv(first)

	cfg.NRL = nrlConfig{}
	off := start()
	tok := token(t, off, auth.RoleClinical)
	pid := joanID(t, off, tok)
	r := resttest.Do(t, http.MethodGet, off.base+"/CarePlan?status=active&subject="+url.QueryEscape("Patient/"+pid), "", resttest.Bearer(tok)).Want(t, http.StatusOK)
	plan, _ := resttest.Path(r.JSON(t), "entry.0.resource.id").(string)
	if plan == "" {
		t.Fatalf("no active demo plan: %s", r.Body)
	}
	resttest.Do(t, http.MethodPatch, off.base+"/CarePlan/"+plan, `[{"op": "replace", "path": "/status", "value": "revoked"}]`,
		resttest.Bearer(tok), "Content-Type: application/json-patch+json").Want(t, http.StatusOK)
	closeSrv(off)
	if n := len(sb.Pointers(joansNHS)); n != 1 {
		t.Fatalf("publishing off: %d pointers, want the one left behind", n)
	}

	cfg.NRL = on
	again := start()
	waitFor(t, "the revoked plan's pointer deleted", func() bool { return len(sb.Pointers(joansNHS)) == 0 })
	waitNoPendingNRL(t, again)
	closeSrv(again)

	last := start()
	defer closeSrv(last)
	waitNoPendingNRL(t, last)
	q := "code=" + url.QueryEscape(nrl.JobSystem+"|"+nrl.KindRemove) + "&focus=" + url.QueryEscape("CarePlan/"+plan)
	r = resttest.Do(t, http.MethodGet, last.base+"/Task?"+q+"&_total=accurate", "", resttest.Bearer(token(t, last, auth.RoleClinical))).Want(t, http.StatusOK)
	if got := resttest.Path(r.JSON(t), "total"); got != resttest.Num(1) {
		t.Errorf("removal jobs of the plan after two starts: %v, want 1: %.2000s", got, r.Body)
	}
	if v := sb.Violations(); len(v) > 0 {
		t.Errorf("NRL rule violations:\n%s", strings.Join(v, "\n"))
	}
}
