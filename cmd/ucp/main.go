// Command ucp is the urgent care plan FHIR server and its tools. main only
// parses the command line and wires concrete pieces together; the work is
// done in the packages it imports.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"
)

const usage = `ucp: a FHIR R4 server for urgent and advance care plans

Usage:
  ucp serve [--addr HOST:PORT] [--store sqlite:PATH|postgres://…] [--base-url URL] [--demo]
            (--oidc-issuer URL --oidc-audience AUD ... | --dev)
  ucp token --server BASE [--role clinical|view|patient|admin|system] [--org ODS] [--user ID] [--patient ID] [--scope S]
  ucp link --server BASE --nhs N [--role clinical|view|admin] [--org ODS]   (a signed in-context link, --dev)
  ucp backup --store sqlite:PATH --to FILE [--audit-dir DIR]   (while the server runs)
  ucp import [--store sqlite:PATH|postgres://…] [--batch N] PATH...   (NDJSON files, transaction Bundles, directories)
  ucp migrate --from sqlite:PATH --to postgres://… (or back)   (copies every version exactly; resumable)
  ucp bench [--patients N] [--duration D] [--clients 1,8,32] [--out DIR]
  ucp audit prune --before DATE (--archive FILE.ndjson[.zst] | --no-archive) [--store sqlite:PATH]
  ucp nrl status [--store sqlite:PATH]   (pending and failed NRL pointer jobs)
  ucp nrl sandbox [--addr HOST:PORT] [--spec FILE]   (a local NRL to publish to)
  ucp generate [--patients N] [--seed S] [--format ndjson|bundle] [--out DIR]
  ucp version

Run 'ucp serve --help' for the server's flags.
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// gin's mode is process-wide, so the program sets it, not the REST
	// server: release mode drops gin's debug output (the route dump), which
	// would go to stdout outside slog.
	gin.SetMode(gin.ReleaseMode)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], stdout, stderr)
	case "import":
		return runImport(ctx, args[1:], stdout, stderr)
	case "generate":
		return runGenerate(ctx, args[1:], stdout, stderr)
	case "token":
		return runToken(ctx, args[1:], stdout, stderr)
	case "link":
		return runLink(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
	case "nrl":
		return runNRL(ctx, args[1:], stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "ucp", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ucp: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
