// Package pgtest starts a throwaway PostgreSQL cluster for the tests of a
// package: initdb into a temporary folder, a server on a unix socket in
// that folder (no TCP port to collide on), stopped and removed at the end.
//
// A package starts one cluster in TestMain and gives each test a database
// of its own:
//
//	var cluster *pgtest.Cluster
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }
//
//	func TestX(t *testing.T) { conn := cluster.Database(t); … }
//
// The binaries are looked for in $PG_BIN, then on PATH, then in Debian's
// /usr/lib/postgresql/*/bin (the newest). Without them Main says so and
// every Database call skips its test. PostgreSQL refuses to run as root, so
// as root the cluster runs as the unprivileged user "postgres" (which the
// Debian package creates), or $PGTEST_USER.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running throwaway cluster.
type Cluster struct {
	bin     string // the folder of initdb, pg_ctl, postgres
	dir     string // the temporary folder: data/, the socket, the log
	cred    *syscall.Credential
	dbs     atomic.Int64
	skipped string // why there is no cluster, for Database's skip
}

// ErrNoPostgres is returned by Start when the binaries are not installed.
var ErrNoPostgres = errors.New("pgtest: PostgreSQL's binaries (initdb, pg_ctl) are not installed; set PG_BIN or install postgresql")

// FindBin returns the folder holding initdb and pg_ctl, or ErrNoPostgres.
func FindBin() (string, error) {
	has := func(dir string) bool {
		for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, p)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("PG_BIN"); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("%w (PG_BIN=%s holds no initdb, pg_ctl and postgres)", ErrNoPostgres, d)
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest version first: numerically, so 16 comes before 9.6.
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func version(bin string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(bin)), 64)
	return v
}

// Start initialises and starts a cluster.
func Start() (*Cluster, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ucp-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		name := os.Getenv("PGTEST_USER")
		if name == "" {
			name = "postgres"
		}
		u, err := user.Lookup(name)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: running as root, and PostgreSQL will not: no user %q to run it as (set PGTEST_USER): %w", name, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := c.start(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) run(name string, args ...string) error {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: %s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func (c *Cluster) start() error {
	data := filepath.Join(c.dir, "data")
	// -N: no fsync of a cluster that lives for one test run.
	if err := c.run("initdb", "-D", data, "-U", "ucp", "--auth=trust", "--encoding=UTF8", "--locale=C", "-N"); err != nil {
		return err
	}
	// Unix socket only, in the cluster's own folder. fsync off: the data
	// is thrown away, and the tests are about ucp, not the disk.
	opts := "-c listen_addresses= -c unix_socket_directories=" + c.dir +
		" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
	return c.run("pg_ctl", "-D", data, "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
}

// Stop stops the server and removes its folder.
func (c *Cluster) Stop() error {
	if c == nil || c.dir == "" {
		return nil
	}
	var err error
	if _, statErr := os.Stat(filepath.Join(c.dir, "data", "postmaster.pid")); statErr == nil {
		err = c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

// conn is the connection string of database db.
func (c *Cluster) conn(db string) string {
	return fmt.Sprintf("host=%s port=5432 user=ucp dbname=%s sslmode=disable", c.dir, db)
}

// NewDatabase creates an empty database and returns its connection string.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	name := "t" + strconv.FormatInt(c.dbs.Add(1), 10)
	conn, err := pgx.Connect(ctx, c.conn("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return c.conn(name), nil
}

// Database creates an empty database for tb and returns its connection
// string; it skips tb when there is no cluster.
func (c *Cluster) Database(tb testing.TB) string {
	tb.Helper()
	if c == nil || c.skipped != "" {
		reason := "no PostgreSQL cluster"
		if c != nil {
			reason = c.skipped
		}
		tb.Skip(reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := c.NewDatabase(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return conn
}

// Main starts a cluster into *c, runs the tests and stops it, returning the
// exit code. Without PostgreSQL's binaries the tests run with a cluster
// that skips them, and Main says so on stderr; any other failure to start
// is a failure.
func Main(m *testing.M, c **Cluster) int {
	cl, err := Start()
	switch {
	case errors.Is(err, ErrNoPostgres):
		fmt.Fprintf(os.Stderr, "SKIP PostgreSQL tests: %v\n", err)
		*c = &Cluster{skipped: err.Error()}
		return m.Run()
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*c = cl
	code := m.Run()
	if err := cl.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
