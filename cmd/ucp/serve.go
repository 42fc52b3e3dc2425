package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/fhir/rest"
	"ucp/fhir/search"
	"ucp/store"
	"ucp/store/sqlite"
)

//go:embed demo/joan-smith.json
var demoBundle []byte

// serveConfig is the server's configuration, from flags.
type serveConfig struct {
	Addr     string
	Store    string
	BaseURL  string
	Demo     bool
	MaxBody  int64
	LogLevel string
}

func parseServeFlags(args []string, stderr io.Writer) (serveConfig, error) {
	cfg := serveConfig{}
	fs := flag.NewFlagSet("ucp serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen on `HOST:PORT` (port 0 picks a free port)")
	fs.StringVar(&cfg.Store, "store", "sqlite:./data/ucp.db", "the store: sqlite:`PATH`")
	fs.StringVar(&cfg.BaseURL, "base-url", "", "the FHIR base `URL` clients use (default http://ADDR/fhir)")
	fs.BoolVar(&cfg.Demo, "demo", false, "load the demo patient and care plan (idempotent)")
	fs.Int64Var(&cfg.MaxBody, "max-body", 16<<20, "largest request body in `bytes` (413 above)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return cfg, nil
}

// openStore opens the store a --store value names.
func openStore(spec string) (store.Store, error) {
	kind, path, ok := strings.Cut(spec, ":")
	if !ok {
		return nil, fmt.Errorf("--store %q: want sqlite:PATH", spec)
	}
	switch kind {
	case "sqlite":
		if path == "" {
			return nil, errors.New("--store sqlite: needs a file path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		return sqlite.Open(path)
	default:
		return nil, fmt.Errorf("--store %q: unknown store %q (want sqlite)", spec, kind)
	}
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
	printBanner(stdout, srv.base)
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
	base  string // the FHIR base URL
	addr  net.Addr
	http  *http.Server
	store store.Store
	done  chan error
	log   *slog.Logger
}

// startServer opens the store, builds the API, listens (synchronously, so
// that the address is known and the port taken before it returns) and serves
// in the background.
func startServer(ctx context.Context, cfg serveConfig, log *slog.Logger) (*server, error) {
	st, err := openStore(cfg.Store)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		st.Close()
		return nil, err
	}
	base := cfg.BaseURL
	if base == "" {
		base = "http://" + ln.Addr().String() + "/fhir"
	}
	reg, err := search.NewRegistry()
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	api, err := rest.New(rest.Config{
		Store:           st,
		Registry:        reg,
		Types:           reg.Types(),
		BaseURL:         base,
		MaxBodyBytes:    cfg.MaxBody,
		SoftwareVersion: version,
		Logger:          log,
	})
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	mountHealth(api.Handler(), st)
	if cfg.Demo {
		if err := loadDemo(api); err != nil {
			ln.Close()
			st.Close()
			return nil, fmt.Errorf("loading demo data: %w", err)
		}
	}
	s := &server{
		base: base, addr: ln.Addr(), store: st, log: log, done: make(chan error, 1),
		http: &http.Server{
			Handler:           api,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		},
	}
	go func() { s.done <- s.http.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "base", base, "store", cfg.Store)
	return s, nil
}

// Close stops accepting requests, lets those under way finish (for up to 30
// seconds), then closes the store.
func (s *server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return errors.Join(err, s.store.Close())
}

// mountHealth adds /healthz: 200 when the store answers, 503 otherwise.
func mountHealth(e *gin.Engine, st store.Store) {
	e.GET("/healthz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if _, err := st.Read(ctx, "Patient", "healthz-probe"); err != nil && store.KindOf(err) != store.NotFound && store.KindOf(err) != store.Gone {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "store": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ok", "version": version})
	})
}

// loadDemo posts the demo transaction through the API itself, so it meets
// the same rules as any client's. Its entries are conditional creates, so
// loading it again changes nothing.
func loadDemo(api http.Handler) error {
	req := httptest.NewRequest(http.MethodPost, "/fhir", bytes.NewReader(demoBundle))
	req.Header.Set("Content-Type", "application/fhir+json")
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("transaction answered %d: %s", rec.Code, rec.Body.String())
	}
	return nil
}

func printBanner(w io.Writer, base string) {
	fmt.Fprintf(w, `
ucp is serving FHIR R4 at %[1]s

Try:
  curl -s %[1]s/metadata | head -c 400
  curl -s '%[1]s/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919'
  curl -s '%[1]s/CarePlan?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919&status=active'
  curl -s -X POST %[1]s/Patient -H 'Content-Type: application/fhir+json' \
       -d '{"resourceType":"Patient","name":[{"family":"Jones","given":["Ann"]}]}'
  curl -s %[2]s/healthz

Stop with Ctrl-C.
`, base, strings.TrimSuffix(base, "/fhir"))
}
