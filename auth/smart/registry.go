package smart

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/go-jose/go-jose/v4"

	"ucp/auth"
)

// Client is a registered client: a system client of SMART Backend Services
// (jwks and system scopes, no redirect_uris), or an app of SMART App Launch
// (redirect_uris; see AppKinds for how it authenticates).
type Client struct {
	ID   string `json:"client_id"`
	Name string `json:"client_name,omitempty"`
	// JWKS holds the client's public keys; the assertion's kid picks one.
	JWKS jose.JSONWebKeySet `json:"jwks"`
	// Scope is the space-separated system scopes the client may be granted.
	Scope string `json:"scope"`
	// Org is the ODS code of the organisation the system acts for, copied
	// into its tokens (org_code) for the audit and agreements.
	Org      string `json:"org,omitempty"`
	Disabled bool   `json:"disabled,omitempty"`

	// App clients (SMART App Launch, authorization code with PKCE).

	// RedirectURIs are the app's redirect URIs, matched exactly.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// AuthMethod is how the app authenticates at the token endpoint: "none"
	// (a public app), "client_secret_basic" or "private_key_jwt".
	AuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// SecretHash is the bcrypt hash of a client_secret_basic app's secret:
	// the file never holds the secret itself.
	SecretHash string `json:"client_secret_hash,omitempty"`
	// EHRLaunch lets a system client create launch contexts with POST
	// /auth/launch (a GP system launching an app on a patient).
	EHRLaunch bool `json:"ehr_launch,omitempty"`
	// InContextLaunch lets the client open ucp's pages for its users with
	// the signed in-context link (/launch/link), signed by a key of JWKS.
	InContextLaunch bool `json:"in_context_launch,omitempty"`
}

// The token endpoint authentication methods of app clients.
const (
	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// AppKinds are the AuthMethod values an app may register.
var AppKinds = []string{AuthNone, AuthClientSecretBasic, AuthPrivateKeyJWT}

// IsApp reports whether c is an app (SMART App Launch) rather than a
// system client.
func (c *Client) IsApp() bool { return len(c.RedirectURIs) > 0 }

// Registry finds registered clients. The store will back it later.
type Registry interface {
	// Client returns the client with the id, or an error matching
	// ErrUnknownClient if there is none.
	Client(ctx context.Context, id string) (*Client, error)
}

// ErrUnknownClient is returned by a Registry for an unknown client id.
var ErrUnknownClient = errors.New("unknown client")

// MemoryRegistry is a Registry held in memory.
type MemoryRegistry struct {
	mu      sync.RWMutex
	clients map[string]*Client
}

var _ Registry = (*MemoryRegistry)(nil)

// NewMemoryRegistry returns a registry holding clients.
func NewMemoryRegistry(clients ...*Client) (*MemoryRegistry, error) {
	r := &MemoryRegistry{clients: map[string]*Client{}}
	for _, c := range clients {
		if err := r.Add(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add registers or replaces a client, after checking that its keys are
// public keys and its scopes are system scopes.
func (r *MemoryRegistry) Add(c *Client) error {
	if err := Validate(c); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clients[c.ID] = c
	return nil
}

// Client implements Registry.
func (r *MemoryRegistry) Client(_ context.Context, id string) (*Client, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.clients[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownClient, id)
	}
	return c, nil
}

// Validate checks a client registration.
func Validate(c *Client) error {
	if c == nil || c.ID == "" {
		return errors.New("client: client_id is required")
	}
	if c.IsApp() {
		return validateApp(c)
	}
	if c.AuthMethod != "" || c.SecretHash != "" {
		return fmt.Errorf("client %q: token_endpoint_auth_method and client_secret_hash are for apps, which need redirect_uris", c.ID)
	}
	if len(c.JWKS.Keys) == 0 {
		return fmt.Errorf("client %q: no keys", c.ID)
	}
	for _, k := range c.JWKS.Keys {
		// A private key in a registration means it has leaked; a key with
		// no kid cannot be chosen by an assertion.
		if !k.IsPublic() || k.KeyID == "" || !k.Valid() {
			return fmt.Errorf("client %q: every key must be a valid public key with a kid", c.ID)
		}
	}
	scopes, err := auth.ParseScopes(c.Scope)
	if err != nil {
		return fmt.Errorf("client %q: %w", c.ID, err)
	}
	for _, s := range scopes {
		if s.Level != auth.LevelSystem {
			return fmt.Errorf("client %q: scope %q is not a system scope", c.ID, s.Raw)
		}
	}
	return nil
}

// LoadClients reads the registered system clients from a JSON file (see
// ParseClients). An admin edits the file.
func LoadClients(path string) (*MemoryRegistry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseClients(path, data)
}

// ParseClients reads registered system clients: a JSON array of
// {client_id, client_name, jwks, scope, org, disabled}; name is the file's
// name, for errors. A mistake (an unknown or misspelt member, a wrong type,
// a client that fails Validate, a client_id given twice) is refused with
// its line and column: a half-read registration would leave an ambulance
// service unable to get a token, or grant scopes nobody meant.
func ParseClients(name string, data []byte) (*MemoryRegistry, error) {
	d := auth.NewConfigDecoder(name, data)
	if err := d.Delim('[', "an array of clients [{\"client_id\": ...}]"); err != nil {
		return nil, err
	}
	var clients []*Client
	seen := map[string]bool{}
	for d.More() {
		var c Client
		off, err := d.Decode(&c)
		if err != nil {
			return nil, err
		}
		if err := Validate(&c); err != nil {
			return nil, d.Errorf(off, "%v", err)
		}
		if seen[c.ID] {
			return nil, d.Errorf(off, "client %q registered twice", c.ID)
		}
		seen[c.ID] = true
		clients = append(clients, &c)
	}
	if err := d.Delim(']', "the end of the array"); err != nil {
		return nil, err
	}
	if len(clients) == 0 {
		return nil, d.Errorf(0, "no clients: register at least one, or leave out --clients")
	}
	return NewMemoryRegistry(clients...)
}

// validateApp checks an app registration: exact redirect URIs, a known
// authentication method with what it needs (a bcrypt hash, or public keys
// signing with an algorithm SMART allows) and nothing it does not, and no
// system scopes.
func validateApp(c *Client) error {
	for _, u := range c.RedirectURIs {
		p, err := url.Parse(u)
		if err != nil || !p.IsAbs() || p.Host == "" || p.Fragment != "" || (p.Scheme != "https" && p.Scheme != "http") {
			return fmt.Errorf("client %q: redirect_uri %q must be an absolute http(s) URL without a fragment", c.ID, u)
		}
	}
	if c.EHRLaunch || c.InContextLaunch {
		return fmt.Errorf("client %q: ehr_launch and in_context_launch are for launchers (GP systems), not apps", c.ID)
	}
	switch c.AuthMethod {
	case AuthNone:
		if c.SecretHash != "" || len(c.JWKS.Keys) > 0 {
			return fmt.Errorf("client %q: a public app (none) has no client_secret_hash and no jwks", c.ID)
		}
	case AuthClientSecretBasic:
		if len(c.JWKS.Keys) > 0 {
			return fmt.Errorf("client %q: a client_secret_basic app has no jwks", c.ID)
		}
		if _, err := bcrypt.Cost([]byte(c.SecretHash)); err != nil {
			return fmt.Errorf("client %q: client_secret_hash must be a bcrypt hash of the secret: %v", c.ID, err)
		}
	case AuthPrivateKeyJWT:
		if c.SecretHash != "" {
			return fmt.Errorf("client %q: a private_key_jwt app has no client_secret_hash", c.ID)
		}
		if len(c.JWKS.Keys) == 0 {
			return fmt.Errorf("client %q: a private_key_jwt app needs jwks", c.ID)
		}
		alg := c.JWKS.Keys[0].Algorithm
		for _, k := range c.JWKS.Keys {
			if !k.IsPublic() || k.KeyID == "" || !k.Valid() {
				return fmt.Errorf("client %q: every key must be a valid public key with a kid", c.ID)
			}
			if !slices.Contains(AssertionAlgorithms, k.Algorithm) || k.Algorithm != alg {
				return fmt.Errorf("client %q: every key needs the same alg, RS384 or ES384", c.ID)
			}
		}
	default:
		return fmt.Errorf("client %q: token_endpoint_auth_method must be one of %s", c.ID, strings.Join(AppKinds, ", "))
	}
	scopes, err := auth.ParseScopes(c.Scope)
	if err != nil {
		return fmt.Errorf("client %q: %w", c.ID, err)
	}
	for _, s := range scopes {
		if s.Level == auth.LevelSystem {
			return fmt.Errorf("client %q: scope %q: an app is granted user and patient scopes, not system ones", c.ID, s.Raw)
		}
	}
	return nil
}
