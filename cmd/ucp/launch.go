package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/authstate"
	"ucp/auth/devissuer"
	"ucp/auth/launch"
	"ucp/auth/session"
	"ucp/auth/smart"
	"ucp/fhir/service"
)

// launchFlags are the flags of the ways into ucp's pages.
type launchFlags struct {
	// FrameAncestors are the origins (GP systems) allowed to show ucp's
	// pages in a frame.
	FrameAncestors []string
}

func (lf *launchFlags) register(fs *flag.FlagSet) {
	fs.Var((*repeated)(&lf.FrameAncestors), "frame-ancestors", "an `ORIGIN` (https://gp.example.com) allowed to show ucp's pages in a frame (repeatable); nobody else may")
}

// devLauncherID is the development launcher that `ucp link` signs for
// under --dev.
const devLauncherID = "ucp-dev-launcher"

// devLauncherKeyFile is the development launcher's private key, beside
// the SQLite file, where `ucp link` reads it.
func devLauncherKeyFile(dataDir string) string { return filepath.Join(dataDir, "dev-launcher-key.pem") }

// authStateFile is the sign-in state (sessions, used link ids), beside the
// SQLite file.
func authStateFile(dataDir string) string { return filepath.Join(dataDir, "auth-state.db") }

// launchDoors is the wiring of auth/session and auth/launch.
type launchDoors struct {
	state    *authstate.Store
	sessions *session.Manager
	dataDir  string
	public   string
	dev      bool
}

func (l *launchDoors) Close() error {
	if l == nil {
		return nil
	}
	return l.state.Close()
}

// mountLaunch opens the sign-in state and serves the doors (the signed
// link, the sign-in pages, sign-out) on e. public is the server's origin as
// clients see it.
func mountLaunch(ctx context.Context, cfg serveConfig, e *gin.Engine, public string, tls bool, sec *security, loader *service.Service, sink *audit.Sink) (*launchDoors, error) {
	state, err := authstate.Open(ctx, authStateFile(cfg.dataDir()))
	if err != nil {
		return nil, fmt.Errorf("sign-in state: %w", err)
	}
	fail := func(err error) (*launchDoors, error) {
		state.Close()
		return nil, err
	}
	sessions, err := session.NewManager(session.Config{State: state, NotFound: authstate.ErrNotFound, BaseURL: public, TLS: tls, FrameAncestors: cfg.Launch.FrameAncestors})
	if err != nil {
		return fail(fmt.Errorf("--frame-ancestors: %w", err))
	}
	roles := &auth.RoleMap{Codes: map[string]auth.Role{}}
	if sec.roles != nil {
		for k, v := range sec.roles.Codes {
			roles.Codes[k] = v
		}
	}
	lc := launch.Config{
		Sessions: sessions, Patients: loader, Launchers: sec.clients, Replay: state, Exists: authstate.ErrExists,
		Agreements: sec.agreements, Operator: cfg.operator(), Roles: roles, StaffScopes: cfg.DefaultScopes,
		Journal: sink, LinkURL: public + "/launch/link",
	}
	if sec.dev != nil {
		// The development role codes, and a development launcher whose
		// key `ucp link` reads from beside the database.
		for k, v := range auth.DevRoleMap().Codes {
			roles.Codes[k] = v
		}
		key, err := auth.LoadOrCreateSigningKey(devLauncherKeyFile(cfg.dataDir()), "ES384")
		if err != nil {
			return fail(fmt.Errorf("--dev launcher key: %w", err))
		}
		if err := sec.clients.Add(&smart.Client{ID: devLauncherID, Name: "Development launcher (ucp link)", JWKS: key.JWKS(), InContextLaunch: true}); err != nil {
			return fail(err)
		}
		dev := sec.dev
		lc.Dev, lc.DevVerify = true, sec.verifier
		lc.DevMint = func(role auth.Role, user, name, org, patient string) (string, error) {
			tok, err := dev.Mint(devissuer.TokenRequest{Role: role, User: user, Name: name, Org: org, Patient: patient, TTL: session.AbsoluteTimeout})
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}
	}
	doors, err := launch.New(lc)
	if err != nil {
		return fail(err)
	}
	doors.Routes(e)
	return &launchDoors{state: state, sessions: sessions, dataDir: cfg.dataDir(), public: public, dev: sec.dev != nil}, nil
}

// demoNHS and demoBirthDate are the demo patient's (cmd/ucp/demo).
const (
	demoNHS       = "9434765919"
	demoBirthDate = "1940-02-03"
)

// printLaunchBanner says, in --dev, how to open the demo patient's page
// from a GP system: a fresh signed link, and the command that makes one.
func printLaunchBanner(w io.Writer, srv *server, self string) {
	l := srv.launch
	if l == nil || !l.dev {
		return
	}
	link, err := devLink(l.dataDir, l.public, demoNHS, demoBirthDate)
	if err != nil {
		return
	}
	fmt.Fprintf(w, `In-context launch, as a GP system opens ucp (the demo patient; a link works once, for 2 minutes):

  %s

A fresh one: %s link --server %s --nhs %s [--role view] [--org ODS]
Sign in by hand: %s/auth/signin

`, link, self, srv.base, demoNHS, l.public)
}

// devLink signs a development link for the NHS number, for the banner of
// make run.
func devLink(dataDir, public, nhs, birthDate string) (string, error) {
	key, err := auth.LoadOrCreateSigningKey(devLauncherKeyFile(dataDir), "ES384")
	if err != nil {
		return "", err
	}
	tok, err := launch.SignLink(key, devLauncherID, public+"/launch/link", time.Now(), launch.LinkClaims{
		NHSNumber: nhs, BirthDate: birthDate, UserID: "dev-user", Name: "Dr Dev Clinician",
		RoleCode: auth.DevRoleCode(auth.RoleClinical), Org: devOrg,
	})
	if err != nil {
		return "", err
	}
	return public + "/launch/link?token=" + tok, nil
}

var errNoDevLauncher = errors.New("no development launcher key: start the server with --dev first")

// publicOrigin is the server's origin as clients see it, from the FHIR
// base URL.
func publicOrigin(base string) string {
	return strings.TrimSuffix(strings.TrimSuffix(base, "/"), "/fhir")
}
