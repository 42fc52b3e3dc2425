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
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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
	skipped string // why there is no cluster, for Database's skip
}

// Env is the variable through which pgrun hands its cluster's maintenance
// database (Admin) to the tests it runs.
const Env = "UCP_TEST_POSTGRES"

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

// URL is the connection URL of database db of the cluster, which a
// --store flag takes too.
func (c *Cluster) URL(db string) string {
	return dbURL(c.dir, db)
}

func dbURL(socketDir, db string) string {
	q := url.Values{"host": {socketDir}, "port": {"5432"}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User("ucp"), Path: "/" + db, RawQuery: q.Encode()}).String()
}

// Admin is the connection URL of the cluster's maintenance database, for
// NewDatabase.
func (c *Cluster) Admin() string { return c.URL("postgres") }

// NewDatabase creates an empty database in the cluster and returns its
// connection URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	return NewDatabase(ctx, c.Admin())
}

// NewDatabase creates an empty database, named at random, in the cluster
// whose maintenance database admin names (a URL of Admin's form), and
// returns its connection URL.
func NewDatabase(ctx context.Context, admin string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return Database(ctx, admin, "t"+hex.EncodeToString(b[:]))
}

// Database returns the connection URL of database name in the cluster
// whose maintenance database admin names, creating it if it is missing:
// a test that restarts a server asks for the same name twice. The name
// must be lower-case letters, digits and underscores.
func Database(ctx context.Context, admin, name string) (string, error) {
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return "", fmt.Errorf("pgtest: database name %q: want lower-case letters, digits and _", name)
		}
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			return "", fmt.Errorf("pgtest: %w", err)
		}
	}
	u.Path = "/" + name
	return u.String(), nil
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
