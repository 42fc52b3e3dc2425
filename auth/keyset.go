package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// jwksKeySet is the oidc.KeySet of every issuer: it verifies a token only
// with the key its kid names. go-oidc's StaticKeySet ignores the kid and its
// RemoteKeySet tries every key when there is none, so a token whose header
// is wrong or stripped would still pass on any key that happens to verify
// it; an issuer that names its keys must be held to those names.
type jwksKeySet struct {
	// url is the jwks_uri, "" for a fixed set.
	url    string
	client *http.Client

	// fetchMu serialises fetches, so a burst of tokens with an unknown kid
	// costs one request; mu guards keys and fetched only briefly, so tokens
	// with a known kid never wait for a fetch.
	fetchMu sync.Mutex
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time
}

// jwksRefetchAfter is how soon an unknown kid may fetch the issuer's keys
// again: often enough to follow a key rotation, rarely enough that forged
// kids cannot make us hammer the issuer.
const jwksRefetchAfter = 10 * time.Second

// jwksMaxBytes bounds a fetched JWKS.
const jwksMaxBytes = 1 << 20

func staticKeySet(keys []jose.JSONWebKey) *jwksKeySet {
	return &jwksKeySet{keys: keys}
}

func remoteKeySet(url string, client *http.Client) *jwksKeySet {
	return &jwksKeySet{url: url, client: client}
}

// VerifySignature implements oidc.KeySet; the IDTokenVerifier has already
// checked the algorithm.
func (s *jwksKeySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, joseAlgorithms())
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("a token must carry exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := s.cached()
	if s.url != "" && (keys == nil || (kid != "" && !hasKid(keys, kid))) {
		if keys, err = s.refresh(ctx); err != nil {
			return nil, err
		}
	}
	if kid == "" {
		if slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID != "" }) {
			return nil, errors.New("token has no kid, but the issuer names its keys")
		}
	} else if !hasKid(keys, kid) {
		return nil, fmt.Errorf("kid %q names no key of the issuer", kid)
	}
	alg := jws.Signatures[0].Header.Algorithm
	for i := range keys {
		// A key published for one algorithm is not used with another.
		if keys[i].KeyID != kid || (keys[i].Algorithm != "" && keys[i].Algorithm != alg) {
			continue
		}
		if payload, err := jws.Verify(&keys[i]); err == nil {
			return payload, nil
		}
	}
	return nil, errors.New("signature does not verify")
}

// hasKid reports whether a key is named kid.
func hasKid(keys []jose.JSONWebKey, kid string) bool {
	return slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
}

func (s *jwksKeySet) cached() []jose.JSONWebKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys
}

// refresh fetches the issuer's keys unless they were fetched (or tried)
// within jwksRefetchAfter, and returns the keys it then has. A failed fetch
// keeps the old keys; it is an error only when there are none.
func (s *jwksKeySet) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	s.mu.Lock()
	due := s.fetched.IsZero() || time.Since(s.fetched) >= jwksRefetchAfter
	s.mu.Unlock()
	if !due {
		return s.cached(), nil
	}
	keys, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetched = time.Now()
	if err == nil {
		s.keys = keys
	}
	if len(s.keys) == 0 && err != nil {
		return nil, fmt.Errorf("fetching keys: %w", err)
	}
	return s.keys, nil
}

func (s *jwksKeySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks %s: %s", s.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes))
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks %s: %w", s.url, err)
	}
	// Only public signing keys: a private or encryption key in a JWKS is
	// a publishing mistake, not a key to trust.
	var keys []jose.JSONWebKey
	for _, k := range set.Keys {
		if k.Valid() && k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
