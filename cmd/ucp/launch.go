package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
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
	// Staff sign-in (NHS CIS2): ucp is its OpenID Connect relying party.
	SignInIssuer, SignInClientID, SignInSecretFile string
	// Patient sign-in (NHS login), with private_key_jwt.
	NHSLoginIssuer, NHSLoginClientID, NHSLoginKeyFile string
	// LaunchersFile names the GP systems trusted to launch ucp as a SMART
	// app.
	LaunchersFile string
}

func (lf *launchFlags) register(fs *flag.FlagSet) {
	fs.Var((*repeated)(&lf.FrameAncestors), "frame-ancestors", "an `ORIGIN` (https://gp.example.com) allowed to show ucp's pages in a frame (repeatable); nobody else may")
	fs.StringVar(&lf.SignInIssuer, "signin-issuer", "", "staff sign in to the pages with this OpenID Connect issuer `URL` (NHS CIS2); its ID tokens are mapped as its Bearer tokens are (--roles, --min-id-assurance)")
	fs.StringVar(&lf.SignInClientID, "signin-client-id", "", "ucp's client `ID` at --signin-issuer")
	fs.StringVar(&lf.SignInSecretFile, "signin-client-secret-file", "", "a `FILE` holding ucp's client secret at --signin-issuer")
	fs.StringVar(&lf.NHSLoginIssuer, "nhslogin-issuer", "", "patients sign in with this NHS login issuer `URL`")
	fs.StringVar(&lf.NHSLoginClientID, "nhslogin-client-id", "", "ucp's client `ID` at --nhslogin-issuer")
	fs.StringVar(&lf.NHSLoginKeyFile, "nhslogin-key", "", "ucp's RSA private key at --nhslogin-issuer (private_key_jwt, signed RS512), a PKCS #8 PEM `FILE`")
	fs.StringVar(&lf.LaunchersFile, "launchers", "", "JSON `FILE` of the GP systems trusted to launch ucp as a SMART app (/launch/smart): name, iss, client_id, client_secret_file or key_file, roles")
}

// signIn builds the sign-in providers the flags (and --dev) name, and the
// verifier of staff ID tokens.
func (lf *launchFlags) signIn(cfg serveConfig, sec *security) ([]*launch.SignInProvider, launch.TokenVerifier, error) {
	var providers []*launch.SignInProvider
	var staff []auth.IssuerConfig
	if lf.SignInIssuer != "" {
		if lf.SignInClientID == "" || lf.SignInSecretFile == "" {
			return nil, nil, errors.New("--signin-issuer needs --signin-client-id and --signin-client-secret-file")
		}
		secret, err := os.ReadFile(lf.SignInSecretFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--signin-client-secret-file: %w", err)
		}
		providers = append(providers, &launch.SignInProvider{Name: "staff", Label: "Sign in with NHS CIS2 (staff)", Issuer: lf.SignInIssuer,
			ClientID: lf.SignInClientID, ClientSecret: strings.TrimSpace(string(secret)), Scopes: []string{"profile", "nationalrbacaccess"}})
		staff = append(staff, auth.IssuerConfig{URL: lf.SignInIssuer, Audience: lf.SignInClientID, Roles: sec.roles})
	}
	if lf.NHSLoginIssuer != "" {
		if lf.NHSLoginClientID == "" || lf.NHSLoginKeyFile == "" {
			return nil, nil, errors.New("--nhslogin-issuer needs --nhslogin-client-id and --nhslogin-key")
		}
		if _, err := os.Stat(lf.NHSLoginKeyFile); err != nil {
			return nil, nil, fmt.Errorf("--nhslogin-key: %w", err)
		}
		key, err := auth.LoadOrCreateSigningKey(lf.NHSLoginKeyFile, launch.NHSLoginAlgorithm)
		if err != nil {
			return nil, nil, fmt.Errorf("--nhslogin-key: %w", err)
		}
		sp, err := launch.NHSLogin("nhslogin", lf.NHSLoginIssuer, lf.NHSLoginClientID, key)
		if err != nil {
			return nil, nil, fmt.Errorf("--nhslogin-key: %w", err)
		}
		providers = append(providers, sp)
	}
	if sec.dev != nil && len(providers) == 0 {
		// Development: the same relying party against the development
		// issuer, standing in for CIS2 and NHS login.
		dev := sec.dev
		providers = append(providers,
			&launch.SignInProvider{Name: "dev-staff", Label: "Sign in through the development identity provider (as NHS CIS2)", Issuer: dev.URL(),
				ClientID: devSignInClient, ClientSecret: "development", HTTPClient: devClient(dev)},
			&launch.SignInProvider{Name: "dev-patient", Label: "Sign in through the development identity provider (as NHS login)", Issuer: dev.URL(),
				ClientID: devSignInClient, ClientSecret: "development", Patients: true, HTTPClient: devClient(dev)})
		roles := auth.DevRoleMap()
		if sec.roles != nil {
			for k, v := range sec.roles.Codes {
				roles.Codes[k] = v
			}
		}
		staff = append(staff, auth.IssuerConfig{URL: dev.URL(), Audience: devSignInClient, Roles: roles, KeySet: dev.Key().KeySet()})
	}
	if len(staff) == 0 {
		return providers, nil, nil
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{Issuers: staff, MinIDAssurance: cfg.MinIDAssurance})
	if err != nil {
		return nil, nil, err
	}
	return providers, v, nil
}

// devSignInClient is ucp's client id at the development issuer.
const devSignInClient = "ucp-dev-signin"

// devClient reaches the development issuer in this same process even when
// it serves a certificate nobody trusts (a self-signed --tls-cert): the
// issuer is on loopback and its tokens are checked against its own key.
func devClient(dev *devissuer.Issuer) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: strings.HasPrefix(dev.URL(), "https://")} //nolint:gosec // loopback, development only
	return &http.Client{Timeout: 10 * time.Second, Transport: t}
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
	state    signInState
	sessions *session.Manager
	dataDir  string
	public   string
	dev      bool
	stop     chan struct{}
	swept    chan struct{}
}

// sweepEvery is how often expired sign-in state (ended sessions, used link
// ids) is deleted; expired entries are invisible already, this reclaims
// their space.
const sweepEvery = time.Hour

func (l *launchDoors) sweep(log func(error)) {
	defer close(l.swept)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			if _, err := l.state.Sweep(context.Background(), now); err != nil {
				log(err)
			}
		}
	}
}

func (l *launchDoors) Close() error {
	if l == nil {
		return nil
	}
	close(l.stop)
	<-l.swept
	return l.state.Close()
}

// mountLaunch opens the sign-in state and serves the doors (the signed
// link, the sign-in pages, sign-out) on e. public is the server's origin as
// clients see it.
func mountLaunch(ctx context.Context, cfg serveConfig, e *gin.Engine, public string, overTLS bool, sec *security, loader *service.Service, sink *audit.Sink, log *slog.Logger) (*launchDoors, error) {
	state, err := openSignInState(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sign-in state: %w", err)
	}
	fail := func(err error) (*launchDoors, error) {
		state.Close()
		return nil, err
	}
	sessions, err := session.NewManager(session.Config{State: state, NotFound: authstate.ErrNotFound, BaseURL: public, TLS: overTLS, FrameAncestors: cfg.Launch.FrameAncestors})
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
		Journal: sink, LinkURL: public + "/launch/link", Resolver: launchResolver,
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
		lc.DevMint = func(role auth.Role, user, name, org, patient, proofing string) (string, error) {
			tok, err := dev.Mint(devissuer.TokenRequest{Role: role, User: user, Name: name, Org: org, Patient: patient, Proofing: proofing, TTL: session.AbsoluteTimeout})
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}
	}
	lc.SignIn, lc.Staff, err = cfg.Launch.signIn(cfg, sec)
	if err != nil {
		return fail(err)
	}
	lc.Pending, lc.Origin = state, public
	if cfg.Launch.LaunchersFile != "" {
		if lc.LaunchingSystems, err = launch.LoadLaunchingSystems(cfg.Launch.LaunchersFile); err != nil {
			return fail(fmt.Errorf("--launchers: %w", err))
		}
	}
	doors, err := launch.New(lc)
	if err != nil {
		return fail(err)
	}
	doors.Routes(e)
	l := &launchDoors{state: state, sessions: sessions, dataDir: cfg.dataDir(), public: public, dev: sec.dev != nil,
		stop: make(chan struct{}), swept: make(chan struct{})}
	go l.sweep(func(err error) { log.Warn("sweeping the sign-in state", "err", err) })
	return l, nil
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

// launchResolver is the principal a launch looks its patient's NHS number up
// as: identity resolution, trusted by the authorizer (security.authorizer)
// like the loaders; what the user then sees is authorised page by page.
var launchResolver = &auth.Principal{Role: auth.RoleSystem, Subject: "ucp-launch", ClientID: "ucp-launch", Name: "ucp sign-in (NHS number look-up)"}
