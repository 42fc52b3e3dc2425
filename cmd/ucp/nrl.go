package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"text/tabwriter"
	"time"
	"ucp/store/postgres"

	"ucp/fhir/rest"
	"ucp/fhir/service"
	"ucp/metrics"
	"ucp/nrl"
	"ucp/nrl/nrltest"
	"ucp/store"
)

// nrlConfig is the National Record Locator publishing configuration, from
// the --nrl-* flags.
type nrlConfig struct {
	URL             string
	ODS             string
	ASID            string
	TokenURL        string
	ClientID        string
	KeyFile         string
	KID             string
	CertFile        string
	CertKeyFile     string
	PracticeSetting string
	Stability       string
	// Structured: the FHIR document as a second content item.
	Structured bool
	Horizon    time.Duration
	Poll       time.Duration
	Backoff    time.Duration
	// SSP: retrieval through the Spine Secure Proxy, on its own listener.
	SSPAddr    string
	SSPCA      string
	SSPCert    string
	SSPCertKey string
}

func addNRLFlags(fs *flag.FlagSet, c *nrlConfig) {
	fs.StringVar(&c.URL, "nrl-url", "", "publish NRL pointers to this producer API base `URL` (…/record-locator/producer/FHIR/R4); publishing is off without it")
	fs.StringVar(&c.ODS, "nrl-ods", "", "ODS `CODE` of the publishing organisation: the pointers' author and custodian")
	fs.StringVar(&c.ASID, "nrl-asid", "", "Spine `ASID` of this service: pointers are retrieved through the Spine Secure Proxy (ssp:// URLs)")
	fs.StringVar(&c.TokenURL, "nrl-token-url", "", "NHS API platform token `URL` (signed-JWT authentication); without it no Authorization header is sent (a local sandbox)")
	fs.StringVar(&c.ClientID, "nrl-client-id", "", "the application's API key (`ID`) on the NHS API platform")
	fs.StringVar(&c.KeyFile, "nrl-key", "", "the application's RSA private key, a PEM `FILE`, signing the client assertions")
	fs.StringVar(&c.KID, "nrl-kid", "", "the `KID` of --nrl-key in the application's published JWKS")
	fs.StringVar(&c.CertFile, "nrl-cert", "", "mTLS client certificate for NRL, a PEM `FILE` (with --nrl-cert-key)")
	fs.StringVar(&c.CertKeyFile, "nrl-cert-key", "", "the private key of --nrl-cert, a PEM `FILE`")
	fs.StringVar(&c.PracticeSetting, "nrl-practice-setting", nrl.DefaultPracticeSetting, "England-PracticeSetting SNOMED `CODE` of the pointers' context (default Palliative care service)")
	fs.StringVar(&c.Stability, "nrl-stability", nrl.StabilityStatic, "`static`: each pointer names one approved version and is superseded at the next; dynamic: one pointer per plan whose URL always serves the current approved version")
	fs.BoolVar(&c.Structured, "nrl-structured", false, "add the FHIR document (Composition/$document, application/fhir+json, format urn:nhs-ic:structured) as a second content item of each pointer, beside the PDF; only where the NRL onboarding agreed structured content (the published producer specification allows unstructured only)")
	fs.DurationVar(&c.Horizon, "nrl-horizon", nrl.DefaultHorizon, "how long a job is retried while NRL is unreachable before it fails (`duration`)")
	fs.DurationVar(&c.Poll, "nrl-poll", nrl.DefaultPoll, "how often the publisher looks for due jobs (`duration`)")
	fs.StringVar(&c.SSPAddr, "ssp-addr", "", "serve the pointers' documents to the Spine Secure Proxy on this `HOST:PORT` (mutual TLS; with --nrl-asid, --ssp-ca, --ssp-cert and --ssp-key)")
	fs.StringVar(&c.SSPCA, "ssp-ca", "", "the CA that issues the Spine Secure Proxy's client certificates, a PEM `FILE`: the SSP listener requires and verifies one")
	fs.StringVar(&c.SSPCert, "ssp-cert", "", "the SSP listener's server certificate (chain), a PEM `FILE` (the FQDN registered with the ASID)")
	fs.StringVar(&c.SSPCertKey, "ssp-key", "", "the private key of --ssp-cert, a PEM `FILE`")
	fs.DurationVar(&c.Backoff, "nrl-backoff", nrl.DefaultBaseDelay, "the first retry's delay after NRL failed; it doubles per attempt up to 30m, with jitter (`duration`)")
}

// pointer is what the pointers say about this service.
func (c nrlConfig) pointer(base string) nrl.PointerConfig {
	return nrl.PointerConfig{ODS: c.ODS, PracticeSetting: c.PracticeSetting, BaseURL: base, ASID: c.ASID, Stability: c.Stability, Structured: c.Structured}
}

// check refuses a configuration NRL would refuse, before the server starts.
func (c nrlConfig) check(base string) error {
	if c.URL == "" {
		return nil
	}
	if err := c.pointer(base).Check(); err != nil {
		return fmt.Errorf("--nrl-*: %w", err)
	}
	if c.TokenURL != "" && (c.ClientID == "" || c.KeyFile == "" || c.KID == "") {
		return errors.New("--nrl-token-url needs --nrl-client-id, --nrl-key and --nrl-kid")
	}
	if (c.CertFile == "") != (c.CertKeyFile == "") {
		return errors.New("--nrl-cert and --nrl-cert-key go together")
	}
	// An ssp:// pointer that nothing serves would send every consumer to a
	// dead end: SSP retrieval is configured whole or not at all.
	ssp := []string{c.ASID, c.SSPAddr, c.SSPCA, c.SSPCert, c.SSPCertKey}
	if slices.Contains(ssp, "") && slices.ContainsFunc(ssp, func(s string) bool { return s != "" }) {
		return errors.New("--nrl-asid, --ssp-addr, --ssp-ca, --ssp-cert and --ssp-key go together: pointers with ssp:// URLs need the listener the Spine Secure Proxy connects to")
	}
	return nil
}

// sspTLS is the SSP listener's TLS: --ssp-cert, and client certificates of
// --ssp-ca required.
func (c nrlConfig) sspTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.SSPCert, c.SSPCertKey)
	if err != nil {
		return nil, fmt.Errorf("--ssp-cert/--ssp-key: %w", err)
	}
	ca, err := os.ReadFile(c.SSPCA)
	if err != nil {
		return nil, fmt.Errorf("--ssp-ca: %w", err)
	}
	return nrl.SSPTLSConfig(ca, cert)
}

// startSSP serves the pointers' documents to the Spine Secure Proxy on a
// listener of its own. Go's server verifies client certificates in the
// handshake, before any path is known, and cannot ask for one later; a
// main listener asking every client for a certificate would make browsers
// prompt clinicians for one. A separate listener requires the SSP's
// certificate outright (failing closed), serves nothing but documents, and
// can be opened to Spine's addresses only.
func startSSP(ctx context.Context, c nrlConfig, svc *service.Service, api *rest.Server, base string, log *slog.Logger) (*http.Server, net.Addr, error) {
	tc, err := c.sspTLS()
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", c.SSPAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("--ssp-addr: %w", err)
	}
	srv := &http.Server{
		Handler:           &nrl.SSP{Docs: nrl.Documents{Reader: api.Service(), Ops: api.Service()}, Audit: svc, ASID: c.ASID, Prefix: u.Path, Base: base},
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, tc)) }()
	log.Info("serving documents to the Spine Secure Proxy", "addr", ln.Addr().String(), "asid", c.ASID)
	return srv, ln.Addr(), nil
}

// outbox wraps the write rules with the NRL outbox when publishing is on,
// else with the guard that keeps clients from writing outbox jobs.
func (c nrlConfig) outbox(next service.WriteInterceptor, st store.Store, base string) service.WriteInterceptor {
	if c.URL == "" {
		return nrl.JobGuard{Next: next}
	}
	return &nrl.Outbox{Next: next, Store: st, Pointer: c.pointer(base)}
}

// client is the NRL client the flags describe.
func (c nrlConfig) client() (*nrl.Client, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.CertKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--nrl-cert: %w", err)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	}
	cl := &nrl.Client{Base: c.URL, ODS: c.ODS, HTTP: hc}
	if c.TokenURL != "" {
		key, err := readRSAKey(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--nrl-key: %w", err)
		}
		cl.Tokens = &nrl.TokenSource{TokenURL: c.TokenURL, ClientID: c.ClientID, Key: key, KID: c.KID, HTTP: &http.Client{Timeout: 30 * time.Second}}
	}
	return cl, nil
}

func readRSAKey(file string) (crypto.Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return s, nil
}

// nrlRunner is the running publisher.
type nrlRunner struct {
	stop context.CancelFunc
	done chan struct{}
	// ssp serves the Spine Secure Proxy at sspAddr; nil without it.
	ssp     *http.Server
	sspAddr net.Addr
}

// Close stops the publisher; a job it was sending is tried again after its
// lease.
func (r *nrlRunner) Close() {
	if r == nil {
		return
	}
	if r.ssp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = r.ssp.Shutdown(ctx)
	}
	r.stop()
	<-r.done
}

// startNRL registers $nrl-status, starts the publisher (sending through svc
// as nrl.Principal), serves the pointers' documents through the API's
// service, and adds the queue to the metrics; with publishing off it says
// so.
func startNRL(ctx context.Context, c nrlConfig, svc *service.Service, api *rest.Server, base string, mx *metrics.Metrics, log *slog.Logger) (*nrlRunner, error) {
	if err := api.RegisterOperation(nrl.StatusOperation(svc)); err != nil {
		return nil, err
	}
	if c.URL == "" {
		log.Info("NRL publishing is off (no --nrl-url): no pointers are published to the National Record Locator")
		return nil, nil
	}
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	pub, err := nrl.NewPublisher(nrl.PublisherConfig{Service: svc, NRL: cl, BaseURL: base, Horizon: c.Horizon, Poll: c.Poll, BaseDelay: c.Backoff, Logger: log})
	if err != nil {
		return nil, err
	}
	docs := nrl.Documents{Reader: api.Service(), Ops: api.Service()}
	if err := registerNRLDocuments(api, docs); err != nil {
		return nil, err
	}
	err = api.RegisterEndpoint(rest.Endpoint{Method: http.MethodGet, Path: nrl.DocumentPath("{composition}"),
		Handler: func(w http.ResponseWriter, r *rest.EndpointRequest) error {
			id := r.Params["composition"]
			if err := r.Authorize(rest.Access{Interaction: "read", Type: "Composition", ID: id}); err != nil {
				return err
			}
			return docs.ServePDF(w, r.Request, id)
		}})
	if err != nil {
		return nil, err
	}
	// A dynamic pointer's URL: the plan's current approved version. Both
	// URLs are served whatever the stability, so pointers published before
	// a change of --nrl-stability keep working.
	err = api.RegisterEndpoint(rest.Endpoint{Method: http.MethodGet, Path: nrl.CurrentPath("{plan}"),
		Handler: func(w http.ResponseWriter, r *rest.EndpointRequest) error {
			id := r.Params["plan"]
			if err := r.Authorize(rest.Access{Interaction: "read", Type: "CarePlan", ID: id}); err != nil {
				return err
			}
			return docs.ServeCurrentPDF(w, r.Request, id)
		}})
	if err != nil {
		return nil, err
	}
	r := &nrlRunner{done: make(chan struct{})}
	if c.SSPAddr != "" {
		if r.ssp, r.sspAddr, err = startSSP(ctx, c, svc, api, base, log); err != nil {
			return nil, err
		}
	}
	mx.WatchOutbox("nrl", pub)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	go func() {
		defer close(r.done)
		// Plans approved while publishing was off are published now, and
		// the pointers of plans no longer shared are removed; a failure is
		// logged, and the next start tries again.
		if n, err := nrl.Backfill(runCtx, svc, c.pointer(base), time.Now()); err != nil {
			log.Error("NRL backfill of what changed while publishing was off failed", "err", err, "queued", n)
		} else if n > 0 {
			log.Info("NRL backfill: queued jobs for what changed while publishing was off", "queued", n)
		}
		pub.Run(runCtx)
	}()
	log.Info("NRL publishing on", "url", c.URL, "ods", c.ODS, "practice_setting", c.PracticeSetting, "stability", c.Stability, "structured", c.Structured, "ssp", c.ASID != "", "auth", c.TokenURL != "")
	return r, nil
}

// registerNRLDocuments serves the FHIR documents pointers name (their
// structured content items) to Bearer tokens: a static pointer's, of one
// approval, and a dynamic pointer's, of the plan's current approved
// version. Both are served whatever --nrl-structured says, so pointers
// published before a change of it keep working.
func registerNRLDocuments(api *rest.Server, docs nrl.Documents) error {
	err := api.RegisterEndpoint(rest.Endpoint{Method: http.MethodGet, Path: nrl.StructuredPath("{composition}"),
		Handler: func(w http.ResponseWriter, r *rest.EndpointRequest) error {
			id := r.Params["composition"]
			if err := r.Authorize(rest.Access{Interaction: "read", Type: "Composition", ID: id}); err != nil {
				return err
			}
			return docs.ServeDocument(w, r.Request, id, r.Base)
		}})
	if err != nil {
		return err
	}
	return api.RegisterEndpoint(rest.Endpoint{Method: http.MethodGet, Path: nrl.CurrentStructuredPath("{plan}"),
		Handler: func(w http.ResponseWriter, r *rest.EndpointRequest) error {
			id := r.Params["plan"]
			if err := r.Authorize(rest.Access{Interaction: "read", Type: "CarePlan", ID: id}); err != nil {
				return err
			}
			return docs.ServeCurrentDocument(w, r.Request, id, r.Base)
		}})
}

// runNRL is `ucp nrl status`, the open and failed jobs of a store, and `ucp
// nrl sandbox`, a local NRL to publish to.
func runNRL(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "sandbox" {
		return runNRLSandbox(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "status" {
		fmt.Fprintln(stderr, "usage: ucp nrl status [--store sqlite:PATH] | ucp nrl sandbox [--addr HOST:PORT] [--spec FILE]")
		return 2
	}
	fs := flag.NewFlagSet("ucp nrl status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("store", "sqlite:./data/ucp.db", "the store: sqlite:`PATH` or a PostgreSQL URL")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	st, err := openStore(ctx, *spec, postgres.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "ucp nrl status:", err)
		return 1
	}
	defer st.Close()
	reg, err := newRegistry(st, "http://localhost/fhir")
	if err != nil {
		fmt.Fprintln(stderr, "ucp nrl status:", err)
		return 1
	}
	svc, err := service.New(service.Config{Store: st, Registry: reg})
	if err != nil {
		fmt.Fprintln(stderr, "ucp nrl status:", err)
		return 1
	}
	open, err := nrl.Open(ctx, svc)
	if err != nil {
		fmt.Fprintln(stderr, "ucp nrl status:", err)
		return 1
	}
	failed, err := nrl.Failed(ctx, svc)
	if err != nil {
		fmt.Fprintln(stderr, "ucp nrl status:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d pending, %d failed\n", len(open), len(failed))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tTASK\tKIND\tPATIENT\tPLAN\tWRITTEN\tATTEMPTS\tLAST ERROR")
	for _, j := range append(failed, open...) {
		plan := "-"
		if j.PlanID != "" {
			plan = fmt.Sprintf("CarePlan/%s/_history/%d", j.PlanID, j.PlanVersion)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\tPatient/%s\t%s\t%s\t%d\t%s\n", j.Status, j.ID, j.Kind, j.Patient, plan, j.Authored.Format(time.RFC3339), j.Attempts, j.Error)
	}
	tw.Flush()
	return 0
}

// runNRLSandbox serves the local NRL (nrl/nrltest) until interrupted,
// logging the pointers it keeps.
func runNRLSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ucp nrl sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "listen on `HOST:PORT`")
	spec := fs.String("spec", os.Getenv(nrltest.SpecEnv), "NRL's producer OpenAPI specification, `FILE` (default $"+nrltest.SpecEnv+")")
	structured := fs.Bool("structured", false, "also accept structured content items (urn:nhs-ic:structured), for ucp serve --nrl-structured")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *spec == "" {
		fmt.Fprintln(stderr, "ucp nrl sandbox: give --spec FILE (../shared/specs/nrl-producer.yaml) or set "+nrltest.SpecEnv)
		return 2
	}
	sb, err := nrltest.ListenWith(ctx, *spec, *addr, slog.New(slog.NewTextHandler(stderr, nil)), nrltest.Options{Structured: *structured})
	if err != nil {
		fmt.Fprintln(stderr, "ucp nrl sandbox:", err)
		return 1
	}
	fmt.Fprintf(stdout, "local NRL (producer API) at %s\npublish to it with: ucp serve ... --nrl-url %s --nrl-ods X26\n", sb.URL, sb.URL)
	<-ctx.Done()
	sb.Close()
	return 0
}
