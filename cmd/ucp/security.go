package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"ucp/notify"
	"ucp/nrl"
	"ucp/patientplan"
	"ucp/report"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/devissuer"
	"ucp/auth/oauth"
	"ucp/auth/smart"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/store"
)

// security is the server's authentication and access policy: a verifier
// for Bearer tokens from the trusted issuers, the role and scope policy,
// and in --dev the development issuer.
type security struct {
	verifier *auth.Verifier
	policy   *auth.Policy
	// agreements are the information-sharing agreements (Contracts) in
	// force; authz is the policy with the agreement check around it.
	agreements *auth.StoreAgreements
	authz      auth.Authorizer
	dev        *devissuer.Issuer
	smart      *smart.Server // the SMART Backend Services token endpoint
	// clients are the registered clients (--clients); roles the --roles
	// map, or nil. The launch doors use both.
	clients *smart.MemoryRegistry
	roles   *auth.RoleMap
	// key signs ucp's access tokens; oauth is the SMART App Launch
	// authorization server (oauth.go), once mounted.
	key   *auth.SigningKey
	oauth *oauth.Server
}

// newSecurity builds the verifier from the issuer flags. root is the
// server's own origin (http://host:port), base its FHIR base URL.
func newSecurity(cfg serveConfig, root, base string, st store.Store, reg *search.Registry) (*security, error) {
	sec := &security{policy: auth.DefaultPolicy(), agreements: &auth.StoreAgreements{Store: st}}
	// A patient (or an app launched on one) reads by id only what is in
	// their compartment; without this only their Patient resource. What
	// they write must land there too.
	sec.policy.Compartment = auth.StoreCompartment(st)
	sec.policy.Patients = reg.Patients
	sec.policy.Operator = cfg.operator()
	sec.authz = &auth.AgreementPolicy{Next: sec.policy, Agreements: sec.agreements, Operator: cfg.operator()}
	vc := auth.VerifierConfig{MinIDAssurance: cfg.MinIDAssurance}
	if cfg.RolesFile != "" {
		roles, err := auth.LoadRoleMap(cfg.RolesFile)
		if err != nil {
			return nil, fmt.Errorf("--roles: %w", err)
		}
		vc.Roles = roles
		sec.roles = roles
	}
	for i, iss := range cfg.Issuers {
		aud := cfg.Audiences[0]
		if len(cfg.Audiences) > 1 {
			aud = cfg.Audiences[i]
		}
		vc.Issuers = append(vc.Issuers, auth.IssuerConfig{URL: iss, Audience: aud, DefaultScopes: cfg.DefaultScopes})
	}
	// ucp is the authorization server for registered system clients
	// (ambulance CAD, 111): SMART Backend Services.
	clients, err := loadClients(cfg.ClientsFile)
	if err != nil {
		return nil, err
	}
	sec.clients = clients
	key, err := auth.LoadOrCreateSigningKey(cfg.keyFile(), "ES256")
	if err != nil {
		return nil, err
	}
	sec.key = key
	public := strings.TrimSuffix(base, "/fhir") // as clients see the server
	sec.smart, err = smart.New(smart.Config{Issuer: public + "/auth", TokenURL: public + "/auth/token", Audience: base, Key: key, Clients: clients,
		ScopesSupported: []string{"system/*.rs", "system/CarePlan.rs", "system/Patient.rs", "system/DocumentReference.rs"}})
	if err != nil {
		return nil, err
	}
	// The same issuer signs the tokens of apps launched through ucp's
	// authorization server, with the role it mapped at sign-in.
	own := sec.smart.IssuerConfig()
	own.OwnRoles = true
	vc.Issuers = append(vc.Issuers, own)
	if cfg.Dev {
		dev, err := devissuer.New(devissuer.Config{Issuer: root + "/dev-issuer", Audience: base})
		if err != nil {
			return nil, fmt.Errorf("--dev: %w", err)
		}
		sec.dev = dev
		// The issuer runs in this process: its key is at hand, and the
		// verifier need not fetch our own discovery over the network
		// (which a self-signed --tls-cert would refuse).
		ic := dev.IssuerConfig()
		ic.KeySet = dev.Key().KeySet()
		vc.Issuers = append(vc.Issuers, ic)
	}
	v, err := auth.NewVerifier(vc)
	if err != nil {
		return nil, err
	}
	sec.verifier = v
	return sec, nil
}

// authorizer is the one authorizer: the server's own loaders trusted,
// then operations mapped to interactions, then the policy with the
// agreement check.
func (sec *security) authorizer() auth.Authorizer {
	return auth.InProcess{Next: patientplan.Proofing{Next: auth.OperationPolicy{Next: sec.authz}}, Trusted: []*auth.Principal{definitionsLoader, demoLoader, &report.ReadAs, launchResolver, nrl.Principal, notify.Principal, audit.AccessLogReader, patientplan.Principal}}
}

// mount adds the development issuer in --dev. The token endpoint (SMART
// Backend Services and app launch alike) is the authorization server's
// (mountOAuth).
func (sec *security) mount(e *gin.Engine) {
	if sec.dev != nil {
		sec.dev.Mount(e)
	}
}

// smartConfigPath is SMART discovery, beside the FHIR base.
const smartConfigPath = "/fhir/.well-known/smart-configuration"

// loadClients reads the --clients file, if any.
func loadClients(path string) (*smart.MemoryRegistry, error) {
	if path == "" {
		return smart.NewMemoryRegistry()
	}
	reg, err := smart.LoadClients(path)
	if err != nil {
		return nil, fmt.Errorf("--clients: %w", err)
	}
	return reg, nil
}

// devWarning is sent with every response in --dev, so nobody mistakes a
// development server for a real one.
const devWarning = `199 ucp "development mode: this server issues a token to anyone who asks; never use it with real patient data"`

// wrap authenticates every request (a bad credential is answered 401 here;
// requests without one go on and the policy decides) and marks responses in
// --dev.
// wrap puts token verification in front of h; refused is told of each
// request refused for a bad token (to audit it).
func (sec *security) wrap(h http.Handler, refused func(*http.Request, error)) http.Handler {
	unverified := h
	h = sec.verifier.Middleware(h, refused)
	// SMART discovery is public and sits under the FHIR base, whose routes
	// the REST layer owns, so it is answered before them.
	discovery := sec.smart.ConfigurationHandler()
	if sec.oauth != nil {
		discovery = sec.oauth.ConfigurationHandler()
	}
	api := h
	fhirAPI := oauth.CORS(api) // browser apps call the API from their own origin
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == smartConfigPath && (r.Method == http.MethodGet || r.Method == http.MethodOptions):
			discovery.ServeHTTP(w, r)
		case sec.oauthBypass(r):
			unverified.ServeHTTP(w, r)
		case r.URL.Path == "/fhir" || strings.HasPrefix(r.URL.Path, "/fhir/"):
			fhirAPI.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
	if sec.dev == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Warning", devWarning)
		w.Header().Set("X-UCP-Mode", "development")
		h.ServeHTTP(w, r)
	})
}

// contentGuard refuses a write whose content lands outside the
// compartment of the patient the caller is bound to (see
// auth.Policy.AuthorizeContent), before the domain rules see it.
type contentGuard struct {
	next   service.WriteInterceptor
	policy *auth.Policy
}

func (g contentGuard) BeforeWrite(ctx context.Context, op *service.WriteOp, view service.View) error {
	if err := g.policy.AuthorizeContent(ctx, op.Interaction, op.Type, op.Resource); err != nil {
		return err
	}
	return g.next.BeforeWrite(ctx, op, view)
}

// agreementWatcher tells the agreement cache when a Contract is written, so
// a new or ended agreement takes effect at once.
type agreementWatcher struct {
	next       service.WriteInterceptor
	agreements *auth.StoreAgreements
}

func (w agreementWatcher) BeforeWrite(ctx context.Context, op *service.WriteOp, view service.View) error {
	if err := w.next.BeforeWrite(ctx, op, view); err != nil {
		return err
	}
	if op.Type == "Contract" {
		w.agreements.Invalidate()
	}
	return nil
}

// devOrg is the organisation of development tokens (devissuer's default).
const devOrg = "F84012"

// installDevAgreement records an information-sharing agreement for the
// development organisation, in --dev only, so development tokens work.
func installDevAgreement(ctx context.Context, svc *service.Service) error {
	ctx = auth.NewContext(ctx, definitionsLoader)
	contract := map[string]any{
		"resourceType": "Contract", "id": "ucp-dev-agreement-" + devOrg, "status": "executed",
		"title":     "Development information-sharing agreement (--dev only)",
		"applies":   map[string]any{"start": "2020-01-01"},
		"authority": []any{map[string]any{"identifier": map[string]any{"system": auth.ODSSystem, "value": devOrg}}},
	}
	if stored, err := findOne(ctx, svc, "Contract", "_id="+contract["id"].(string)); err != nil || stored != nil {
		return err
	}
	if err := putResource(ctx, svc, contract); err != nil {
		return fmt.Errorf("recording the development agreement: %w", err)
	}
	return nil
}
