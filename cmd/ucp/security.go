package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/devissuer"
	"ucp/fhir/rest"
)

// security is the server's authentication and access policy: a verifier
// for Bearer tokens from the trusted issuers, the role and scope policy,
// and in --dev the development issuer.
type security struct {
	verifier *auth.Verifier
	policy   *auth.Policy
	dev      *devissuer.Issuer
}

// newSecurity builds the verifier from the issuer flags. root is the
// server's own origin (http://host:port), base its FHIR base URL.
func newSecurity(cfg serveConfig, root, base string) (*security, error) {
	sec := &security{policy: auth.DefaultPolicy()}
	vc := auth.VerifierConfig{MinIDAssurance: cfg.MinIDAssurance}
	if cfg.RolesFile != "" {
		roles, err := auth.LoadRoleMap(cfg.RolesFile)
		if err != nil {
			return nil, fmt.Errorf("--roles: %w", err)
		}
		vc.Roles = roles
	}
	for i, iss := range cfg.Issuers {
		aud := cfg.Audiences[0]
		if len(cfg.Audiences) > 1 {
			aud = cfg.Audiences[i]
		}
		vc.Issuers = append(vc.Issuers, auth.IssuerConfig{URL: iss, Audience: aud, DefaultScopes: cfg.DefaultScopes})
	}
	if cfg.Dev {
		dev, err := devissuer.New(devissuer.Config{Issuer: root + "/dev-issuer", Audience: base})
		if err != nil {
			return nil, fmt.Errorf("--dev: %w", err)
		}
		sec.dev = dev
		vc.Issuers = append(vc.Issuers, dev.IssuerConfig())
	}
	v, err := auth.NewVerifier(vc)
	if err != nil {
		return nil, err
	}
	sec.verifier = v
	return sec, nil
}

// authorizer adapts the policy to the REST layer's hook.
func (sec *security) authorizer() rest.Authorizer { return policyAuthorizer{sec.policy} }

type policyAuthorizer struct{ p *auth.Policy }

func (a policyAuthorizer) Authorize(ctx context.Context, x rest.Access) error {
	acc := auth.Access{Interaction: x.Interaction, Type: x.Type, ID: x.ID, Query: x.Query}
	if x.Interaction == "operation" {
		// The policy knows interactions, not operations: an operation that
		// only reads is authorized as a read of its type, any other as an
		// update.
		acc.Interaction = "update"
		if readOnlyOperations[x.Operation] {
			acc.Interaction = "read"
			if x.ID == "" {
				acc.Interaction = "search-type"
			}
		}
	}
	return a.p.Authorize(ctx, acc)
}

// readOnlyOperations change nothing stored.
var readOnlyOperations = map[string]bool{"validate": true, "document": true, "everything": true}

// mount adds the development issuer's endpoints, in --dev.
func (sec *security) mount(e *gin.Engine) {
	if sec.dev != nil {
		sec.dev.Mount(e)
	}
}

// devWarning is sent with every response in --dev, so nobody mistakes a
// development server for a real one.
const devWarning = `199 ucp "development mode: this server issues a token to anyone who asks; never use it with real patient data"`

// wrap authenticates every request (a bad credential is answered 401 here;
// requests without one go on and the policy decides) and marks responses in
// --dev.
func (sec *security) wrap(h http.Handler) http.Handler {
	h = sec.verifier.Middleware(h)
	if sec.dev == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Warning", devWarning)
		w.Header().Set("X-UCP-Mode", "development")
		h.ServeHTTP(w, r)
	})
}
