package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/devissuer"
	"ucp/bulk/export"
	"ucp/careplan"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/rest"
	"ucp/fhir/service"
	"ucp/store"
	"ucp/store/postgres"
	"ucp/synth"
)

//go:embed demo/joan-smith.json
var demoBundle []byte

// serveConfig is the server's configuration, from flags.
type serveConfig struct {
	Addr         string
	Store        string
	BaseURL      string
	AuditDir     string
	AuditSync    time.Duration
	Demo         bool
	DemoPatients int
	MaxBody      int64
	LogLevel     string
	// UKCore is the UK Core package directory ("" = not loaded).
	UKCore string
	// Bulk Data $export: where jobs keep their files, and for how long.
	ExportDir    string
	ExportExpiry time.Duration

	// Security: trusted token issuers, or --dev.
	Dev            bool
	Issuers        []string
	Audiences      []string
	RolesFile      string
	MinIDAssurance int
	DefaultScopes  string
	ClientsFile    string
	// OperatorODS is the organisation that runs the service: its admins
	// record the information-sharing agreements and read the audit.
	OperatorODS string

	// TLS: serve HTTPS with this certificate (chain) and key, PEM files.
	TLSCert string
	TLSKey  string

	// MetricsAddr serves /metrics on a listener of its own instead of the
	// API's.
	MetricsAddr string

	// CursorKeyFile holds the key that seals paging cursors ("" = a
	// random key per process).
	CursorKeyFile string
	// DataDir holds the server's key, audit journal and exports when the
	// store is not a SQLite file beside them; Pool sizes a PostgreSQL pool.
	DataDir string
	Pool    postgres.Options
	// Launch: the ways into ucp's pages (launch.go).
	Launch launchFlags
	// NRL: publishing pointers to the National Record Locator (nrl.go).
	NRL nrlConfig
	// Mail: the email outbox of patient-started plans (patientplan.go).
	Mail mailConfig
}

// dataDir is the folder for the server's key and the audit journal:
// --data-dir, else the folder beside the SQLite file, else ./data.
func (c serveConfig) dataDir() string {
	switch {
	case c.DataDir != "":
		return c.DataDir
	case isPostgres(c.Store):
		return "data"
	}
	return filepath.Dir(strings.TrimPrefix(c.Store, "sqlite:"))
}

// operator is the ODS code of the organisation that runs the service: the
// flag's, or in --dev the development organisation's, so that development
// admins can record agreements.
func (c serveConfig) operator() string {
	if c.OperatorODS == "" && c.Dev {
		return devOrg
	}
	return c.OperatorODS
}

// auditDir is the audit journal's folder: --audit-dir, or audit/ beside
// the SQLite file.
func (c serveConfig) auditDir() string {
	if c.AuditDir != "" {
		return c.AuditDir
	}
	return filepath.Join(c.dataDir(), "audit")
}

// keyFile is the server's signing key (SMART Backend Services tokens),
// beside the SQLite file.
func (c serveConfig) keyFile() string { return filepath.Join(c.dataDir(), "server-key.pem") }

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func parseServeFlags(args []string, stderr io.Writer) (serveConfig, error) {
	cfg := serveConfig{}
	fs := flag.NewFlagSet("ucp serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen on `HOST:PORT` (port 0 picks a free port)")
	fs.StringVar(&cfg.Store, "store", "sqlite:./data/ucp.db", storeUsage)
	fs.StringVar(&cfg.DataDir, "data-dir", "", "the `DIR` of the server's key, audit journal and exports (default: beside the SQLite file; ./data with PostgreSQL)")
	poolFlags(fs, &cfg.Pool)
	fs.StringVar(&cfg.BaseURL, "base-url", "", "the FHIR base `URL` clients use (default http://ADDR/fhir)")
	fs.StringVar(&cfg.AuditDir, "audit-dir", "", "the audit journal's `DIR` (default: audit/ beside the SQLite file)")
	fs.DurationVar(&cfg.AuditSync, "audit-sync-interval", 0, "fsync the audit journal on this timer instead of before each response (records still survive a server restart; a power cut may lose this `interval`)")
	fs.BoolVar(&cfg.Demo, "demo", false, "load the demo patient and care plan, and --demo-patients synthetic ones (idempotent)")
	fs.IntVar(&cfg.DemoPatients, "demo-patients", 25, "how many synthetic patients --demo loads")
	fs.Int64Var(&cfg.MaxBody, "max-body", 16<<20, "largest request body in `bytes` (413 above)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.UKCore, "ukcore", os.Getenv(ukcoreEnv), "the UK Core package as published (XML or JSON), `DIR`: ucp's profiles derive from it and are validated against it (default $"+ukcoreEnv+")")
	fs.StringVar(&cfg.ExportDir, "export-dir", "", "where $export jobs keep their state and NDJSON files, `DIR` (default: exports/ beside the SQLite file)")
	fs.DurationVar(&cfg.ExportExpiry, "export-expiry", export.DefaultExpiry, "how long a finished $export job and its files are kept (`duration`)")
	fs.BoolVar(&cfg.Dev, "dev", false, "development mode: run a token issuer inside the server that mints any token asked for (loopback only)")
	fs.Var((*repeated)(&cfg.Issuers), "oidc-issuer", "trust tokens from this OIDC issuer `URL` (repeatable; e.g. NHS CIS2)")
	fs.Var((*repeated)(&cfg.Audiences), "oidc-audience", "the audience `AUD` tokens of the matching --oidc-issuer must carry (once for all, or once per issuer)")
	fs.StringVar(&cfg.RolesFile, "roles", "", "JSON `FILE` mapping national RBAC role codes to roles (clinical, view, admin)")
	fs.IntVar(&cfg.MinIDAssurance, "min-id-assurance", 3, "least CIS2 identity assurance level of staff tokens (0 turns the check off)")
	fs.StringVar(&cfg.ClientsFile, "clients", "", "JSON `FILE` of registered SMART Backend Services clients (client_id, jwks, scope, org)")
	fs.StringVar(&cfg.OperatorODS, "operator-ods", "", "ODS `CODE` of the organisation that runs this service: only its admins record information-sharing agreements, read the audit and run $reindex (default with --dev: "+devOrg+")")
	fs.StringVar(&cfg.DefaultScopes, "oidc-default-scopes", "user/*.cruds", "SMART scopes granted to staff tokens that carry none (CIS2 sends none: the role decides)")
	// TLS.
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS (TLS 1.2 or later) with this certificate chain, a PEM `FILE` (with --tls-key)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "the private key of --tls-cert, a PEM `FILE`")
	// Metrics.
	fs.StringVar(&cfg.CursorKeyFile, "cursor-key-file", "", "`FILE` holding the key (at least 32 bytes) that seals paging cursors; nodes serving one address share it (default: with a PostgreSQL store, a key kept in its database for every node; else a random key, so cursors end with the process)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve /metrics (Prometheus) on this `HOST:PORT` only, plain HTTP, instead of beside the API")
	cfg.Launch.register(fs)
	addNRLFlags(fs, &cfg.NRL)
	addMailFlags(fs, &cfg.Mail)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if len(cfg.Issuers) == 0 && !cfg.Dev {
		return cfg, errors.New("no token issuer: give --oidc-issuer URL --oidc-audience AUD, or --dev for development (there is no open mode)")
	}
	if len(cfg.Audiences) != len(cfg.Issuers) && len(cfg.Audiences) != 1 {
		return cfg, fmt.Errorf("%d --oidc-issuer but %d --oidc-audience: give one audience for all, or one per issuer", len(cfg.Issuers), len(cfg.Audiences))
	}
	return cfg, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseServeFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "ucp serve:", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		fmt.Fprintln(stderr, "ucp serve: --log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := startServer(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	printBanner(stdout, srv, os.Args[0])
	printLaunchBanner(stdout, srv, os.Args[0])
	<-ctx.Done()
	log.Info("shutting down")
	if err := srv.Close(); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// server is a running ucp server.
type server struct {
	base  string            // the FHIR base URL
	dev   *devissuer.Issuer // the development issuer, with --dev
	addr  net.Addr
	http  *http.Server
	store store.Store
	audit *audit.Sink
	// refused audits the requests refused for a bad token.
	refused *audit.RefusedLogins
	// exports runs the $export jobs.
	exports *export.Manager
	// loader is the API's FHIR service, for trusted in-process loading
	// (the demo, ucp bench) as principals the authorizer trusts.
	loader *service.Service
	done   chan error
	log    *slog.Logger
	// metricsHTTP serves /metrics with --metrics-addr, else nil.
	metricsHTTP *http.Server
	// launch holds the sign-in state and sessions of the pages.
	launch *launchDoors
	// nrl is the NRL publisher, nil when publishing is off.
	nrl *nrlRunner
	// mail is the email publisher, nil when email is off.
	mail *mailRunner
	// stopReports ends the measures' background read (warmReports).
	stopReports func()
}

// startServer opens the store, builds the API, listens (synchronously, so
// that the address is known and the port taken before it returns) and serves
// in the background.
func startServer(ctx context.Context, cfg serveConfig, log *slog.Logger) (*server, error) {
	st, err := openStore(ctx, cfg.Store, cfg.Pool)
	if err != nil {
		return nil, err
	}
	if err := makeDataDir(cfg); err != nil {
		st.Close()
		return nil, err
	}
	ln, scheme, err := listen(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	root := scheme + "://" + ln.Addr().String()
	base := cfg.BaseURL
	if base == "" {
		base = root + "/fhir"
	}
	reg, err := newRegistry(st, base)
	if err == nil {
		err = cfg.NRL.check(base)
	}
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	sec, err := newSecurity(cfg, root, base, st, reg)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	// The care-plan rules: validation of every write, the plan lifecycle
	// and consent, and what urgent care may see.
	ukcore, err := loadUKCore(cfg.UKCore, func(msg string) { log.Warn(msg) })
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	if ukcore != nil {
		log.Info("UK Core loaded", "dir", cfg.UKCore)
	}
	plans, err := careplan.New(careplan.Config{Store: st, Registry: reg, Validator: careplan.NewValidatorOn(st, reg, ukcore)})
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	// Every interaction is audited: writes in their own transaction, the
	// rest through a durable journal drained into the store.
	sink, err := audit.Open(cfg.auditDir(), st, reg, audit.Options{Logger: log, SyncInterval: cfg.AuditSync})
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	// Bulk Data $export: jobs in the background, one at a time (a small
	// machine also serves urgent care), reading as their caller with the
	// same read rules as a search.
	exportDir := cfg.ExportDir
	if exportDir == "" {
		exportDir = filepath.Join(cfg.dataDir(), "exports")
	}
	exportStorage, err := openExportStorage(ctx, cfg, exportDir)
	if err != nil {
		ln.Close()
		sink.Close()
		st.Close()
		return nil, err
	}
	exports, err := export.New(export.Config{
		Store: st, Registry: reg, Types: reg.Types(), Authorizer: sec.authorizer(), ReadInterceptor: plans,
		Dir: exportDir, Storage: exportStorage, Expiry: cfg.ExportExpiry, Logger: log,
	})
	if err != nil {
		ln.Close()
		sink.Close()
		st.Close()
		return nil, err
	}
	fail := func(err error) (*server, error) {
		ln.Close()
		exports.Close()
		sink.Close()
		st.Close()
		return nil, err
	}
	// One cache of whose data each version holds, for the audit of reads and
	// of writes alike.
	patients := audit.NewPatients(reg)
	cursorKey, err := pagingKey(ctx, cfg.CursorKeyFile, st)
	if err != nil {
		return fail(err)
	}
	restCfg := rest.Config{
		CursorKey:         cursorKey,
		Store:             st,
		Registry:          reg,
		Types:             reg.Types(),
		BaseURL:           base,
		MaxBodyBytes:      cfg.MaxBody,
		SoftwareVersion:   version,
		Logger:            log,
		WriteInterceptor:  audit.WriteInterceptor{Next: cfg.NRL.outbox(contentGuard{next: agreementWatcher{next: patientRules(plans, st), agreements: sec.agreements}, policy: sec.policy}, st, base), Patients: patients},
		ReadInterceptor:   audit.CollectingReader{Next: plans, Patients: patients},
		Audit:             sink,
		Caller:            auth.CallerKey,
		BreakGlass:        auth.BreakGlassReason,
		Operations:        append(plans.Operations(), exports.Operations()...),
		Endpoints:         exportEndpoints(exports.Routes()),
		SupportedProfiles: supportedProfiles(),
		SecurityService:   "SMART-on-FHIR",
		Security:          "Bearer tokens (JWT) from NHS CIS2 or another configured OpenID Connect issuer; SMART Backend Services (client_credentials with private_key_jwt) for system clients. Discovery: .well-known/smart-configuration.",
	}
	restCfg.Authorizer = sec.authorizer()
	// Metrics: every request the API answers is counted.
	mx := newMetrics(st, sink)
	restCfg.Observer = mx
	api, err := rest.New(restCfg)
	if err != nil {
		return fail(err)
	}
	// Our own definitions and the demo are loaded in process by trusted
	// code, through the API's own FHIR service: the same rules as any
	// client's writes, as principals the authorizer trusts by identity.
	loader := api.Service()
	served := map[string]bool{}
	for _, t := range reg.Types() {
		served[t] = true
	}
	if err := installDefinitions(ctx, loader, served); err != nil {
		return fail(fmt.Errorf("installing the profiles: %w", err))
	}
	if cfg.Dev {
		if err := installDevAgreement(ctx, loader); err != nil {
			return fail(err)
		}
	}
	if cfg.Demo {
		if err := loadDemo(ctx, loader, cfg.DemoPatients); err != nil {
			return fail(fmt.Errorf("loading demo data: %w", err))
		}
	}
	reports, err := registerReporting(api, plans, loader)
	if err != nil {
		return fail(err)
	}
	if err := registerPatientPlans(api); err != nil {
		return fail(err)
	}
	// SearchParameters POSTed at run time survive a restart. One the
	// registry now refuses is logged, not fatal: the others still work.
	if err := api.LoadSearchParameters(ctx); err != nil {
		log.Warn("some stored SearchParameters were not registered", "err", err)
	}
	mountHealth(api.Handler(), st)
	sec.mount(api.Handler())
	doors, err := mountLaunch(ctx, cfg, api.Handler(), publicOrigin(base), scheme == "https", sec, loader, sink, log)
	if err != nil {
		return fail(err)
	}
	if err := mountOAuth(cfg, api.Handler(), sec, doors, api.Service(), sink); err != nil {
		doors.Close()
		return fail(err)
	}
	// The web app's pages (web.go).
	if err := mountWeb(api.Handler(), api.Service(), doors.sessions, sink, nhsLoginStepUp(cfg.Launch), log); err != nil {
		doors.Close()
		return fail(err)
	}
	metricsHTTP, err := serveMetrics(cfg, mx, api.Handler(), log)
	if err != nil {
		doors.Close()
		return fail(fmt.Errorf("--metrics-addr: %w", err))
	}
	// Requests with a bad token never reach the REST layer's audit.
	refused, err := audit.NewRefusedLogins(sink, audit.RefusedWindow)
	if err != nil {
		doors.Close()
		return fail(err)
	}
	nrlRun, err := startNRL(ctx, cfg.NRL, loader, api, base, mx, log)
	if err != nil {
		doors.Close()
		return fail(fmt.Errorf("NRL: %w", err))
	}
	mailRun, err := startMail(ctx, cfg.Mail, loader, base, mx, log)
	if err != nil {
		nrlRun.Close()
		doors.Close()
		return fail(fmt.Errorf("email: %w", err))
	}
	handler := sec.wrap(auth.BreakGlassHandler(api), refused.Record)
	if scheme == "https" {
		handler = hsts(handler)
	}
	s := &server{
		base: base, addr: ln.Addr(), store: st, audit: sink, refused: refused, exports: exports, loader: loader, log: log, done: make(chan error, 1), dev: sec.dev,
		http: &http.Server{
			Handler: handler,
			// Handshake failures and the like go to the structured log.
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		},
	}
	s.metricsHTTP = metricsHTTP
	s.launch = doors
	s.nrl = nrlRun
	s.mail = mailRun
	s.stopReports = warmReports(ctx, reports, log)
	go func() { s.done <- s.http.Serve(ln) }()
	if cfg.operator() == "" {
		// Not fatal: the agreements already recorded keep working, and a
		// server that urgent care depends on should not stay down over a
		// governance setting that the next restart can add. But nobody can
		// record, change or end an agreement, or read the audit as an admin,
		// until it is set, and the operator must hear that at once.
		log.Warn("no --operator-ods: no admin may record or change information-sharing agreements (Contract), read the audit or run $reindex; give the ODS code of the organisation that runs this service")
	}
	log.Info("listening", "addr", ln.Addr().String(), "base", base, "store", redactStore(cfg.Store), "operator", cfg.operator())
	return s, nil
}

// Close stops accepting requests, lets those under way finish (for up to 30
// seconds), then closes the store.
func (s *server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.nrl.Close() // before the store: it writes the jobs' results
	s.mail.Close()
	s.stopReports() // before the store: it reads it
	err := s.http.Shutdown(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if s.metricsHTTP != nil {
		err = errors.Join(err, s.metricsHTTP.Shutdown(ctx))
	}
	// Export jobs read the store and the audit journal drains into it, so
	// the store closes last; the refused logins still counted go into the
	// journal before it closes.
	s.refused.Close()
	return errors.Join(err, s.exports.Close(), s.launch.Close(), s.audit.Close(), s.store.Close())
}

// mountHealth adds /healthz: 200 when the store answers, 503 otherwise.
func mountHealth(e *gin.Engine, st store.Store) {
	e.GET("/healthz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if _, err := st.Read(ctx, "Patient", "healthz-probe"); err != nil && outcome.KindOf(err) != outcome.NotFound && outcome.KindOf(err) != outcome.Gone {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "store": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ok", "version": version})
	})
}

// demoLoader is the principal the demo data is loaded as: a clinician, so
// that its active plans are approved like any other.
var demoLoader = &auth.Principal{Role: auth.RoleClinical, Subject: "ucp-demo-loader", UserID: "ucp-demo-loader", Name: "ucp demo data loader"}

// loadDemo runs the demo transactions through the FHIR service, so they
// meet the same rules as any client's: Joan Smith's plan, then the first
// patients synthetic patients. Loading again changes nothing: Joan's
// entries are conditional creates, and the synthetic set is skipped when
// its first patient is already there.
func loadDemo(ctx context.Context, svc *service.Service, patients int) error {
	ctx = auth.NewContext(ctx, demoLoader)
	post := func(body []byte) error { return runBundle(ctx, svc, body) }
	if err := post(demoBundle); err != nil {
		return err
	}
	if patients <= 0 {
		return nil
	}
	first := true
	err := synth.Generate(synth.Options{Patients: patients, Seed: 1}, synth.Bundles(func(patient, step int, bundle []byte) error {
		if first {
			first = false
			if loaded, err := demoLoaded(ctx, svc, bundle); err != nil || loaded {
				return errors.Join(err, errDemoLoaded)
			}
		}
		return post(bundle)
	}))
	if errors.Is(err, errDemoLoaded) {
		return nil
	}
	return err
}

// errDemoLoaded stops the generator when the synthetic set is already there.
var errDemoLoaded = errors.New("demo already loaded")

// demoLoaded reports whether the Patient of a synthetic transaction is
// already stored (found by its NHS number).
func demoLoaded(ctx context.Context, svc *service.Service, bundle []byte) (bool, error) {
	b, err := resource.Parse(bundle)
	if err != nil {
		return false, err
	}
	for _, e := range b["entry"].([]any) {
		res, _ := e.(map[string]any)["resource"].(map[string]any)
		if resource.Type(res) != "Patient" {
			continue
		}
		id := res["identifier"].([]any)[0].(map[string]any)
		q := url.Values{"identifier": {id["system"].(string) + "|" + id["value"].(string)}}
		found, err := findOne(ctx, svc, "Patient", q.Encode())
		return found != nil, err
	}
	return false, errors.New("no Patient in the first synthetic transaction")
}

// printBanner says how to use the server; self is how this binary was
// invoked (./bin/ucp under make run), for the token command.
func printBanner(w io.Writer, srv *server, self string) {
	base := srv.base
	token := "$TOKEN"
	intro := "Requests need a Bearer token from a trusted issuer (--oidc-issuer)."
	if srv.dev != nil {
		tok, err := srv.dev.Mint(devissuer.TokenRequest{Role: auth.RoleClinical, TTL: 12 * time.Hour})
		if err == nil {
			intro = fmt.Sprintf("DEVELOPMENT MODE: tokens are issued to anyone. A clinician's token (12 h):\n\n  export TOKEN=%s\n\n"+
				"Other roles: %s token --server %s --role view|patient|admin|system [--patient ID] [--org ODS]", tok.AccessToken, self, base)
		}
	}
	fmt.Fprintf(w, `
ucp is serving FHIR R4 at %[1]s

%[3]s

Try:
  curl -s %[1]s/metadata | head -c 400
  curl -s -H "Authorization: Bearer %[4]s" '%[1]s/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919'
  # the urgent-care query: plan, patient, CPR decision, ceiling of treatment, preferred places, contacts
  curl -s -H "Authorization: Bearer %[4]s" '%[1]s/CarePlan?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919&status=active&_include=CarePlan:subject&_include=CarePlan:supporting-info&_include=CarePlan:condition&_include=CarePlan:care-team&_include:iterate=CareTeam:participant'
  curl -s -H "Authorization: Bearer %[4]s" -X POST %[1]s/Patient -H 'Content-Type: application/fhir+json' \
       -d '{"resourceType":"Patient","name":[{"family":"Jones","given":["Ann"]}],"gender":"female","birthDate":"1951-04-02"}'
  curl -s %[2]s/healthz

Stop with Ctrl-C.
`, base, strings.TrimSuffix(base, "/fhir"), intro, token)
}

// exportEndpoints serves the Bulk Data status and file routes through the
// REST adapter's endpoints.
func exportEndpoints(routes []export.Route) []rest.Endpoint {
	var out []rest.Endpoint
	for _, rt := range routes {
		out = append(out, rest.Endpoint{Method: rt.Method, Path: rt.Path,
			Handler: func(w http.ResponseWriter, r *rest.EndpointRequest) error {
				return rt.Handler(w, &export.Request{Request: r.Request, Params: r.Params, Base: r.Base, Authorize: r.Authorize})
			}})
	}
	return out
}
