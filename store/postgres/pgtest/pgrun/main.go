// Command pgrun runs a command with a throwaway PostgreSQL cluster: it
// starts one (package pgtest), puts the URL of its maintenance database in
// $UCP_TEST_POSTGRES, runs the command, stops the cluster and exits with
// the command's status. make test runs the REST layer's tests through it,
// so that they run against PostgreSQL as well as SQLite
// (internal/resttest.OpenStore reads the variable).
//
//	go run ./store/postgres/pgtest/pgrun go test ./fhir/rest/ ./cmd/ucp/
//
// Without PostgreSQL's binaries it says that it skips the command, and
// exits 0.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"ucp/store/postgres/pgtest"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: pgrun COMMAND [ARG...]")
		return 2
	}
	c, err := pgtest.Start()
	if errors.Is(err, pgtest.ErrNoPostgres) {
		fmt.Printf("SKIP: the tests against PostgreSQL (store/postgres's, and %v): %v\n", args, err)
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	// An interrupt goes to the command (same process group); pgrun waits
	// for it and then stops the cluster.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), pgtest.Env+"="+c.Admin())
	fmt.Printf("against PostgreSQL: %v\n", args)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
