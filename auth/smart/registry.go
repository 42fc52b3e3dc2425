package smart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/go-jose/go-jose/v4"

	"ucp/auth"
)

// Client is a registered system client.
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
	// InContextLaunch lets the client open ucp's pages for its users with
	// the signed in-context link (/launch/link), signed by a key of JWKS.
	InContextLaunch bool `json:"in_context_launch,omitempty"`
}

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
