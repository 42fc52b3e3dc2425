package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// SigningKey is a private key that ucp signs its own tokens with (the
// development issuer's and the SMART Backend Services token endpoint's).
type SigningKey struct {
	priv   crypto.Signer
	alg    jose.SignatureAlgorithm
	kid    string
	signer jose.Signer
}

// NewSigningKey generates a key for alg: RS256, RS384, RS512 (RSA 2048; NHS
// login requires RS512) or ES256, ES384 (P-256, P-384).
func NewSigningKey(alg string) (*SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256", "RS384", "RS512":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		return nil, fmt.Errorf("signing key: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	return newSigningKey(priv, alg)
}

// LoadOrCreateSigningKey reads a PKCS #8 PEM private key from path, or
// generates one for alg and writes it there (mode 0600) if the file does not
// exist, so that tokens stay valid across restarts.
func LoadOrCreateSigningKey(path, alg string) (*SigningKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := NewSigningKey(alg)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return nil, err
		}
		out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		// O_EXCL: two processes starting together must not overwrite each
		// other's key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		if _, err := f.Write(out); err != nil {
			f.Close()
			return nil, fmt.Errorf("signing key: %w", err)
		}
		return k, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("signing key %s: no PEM block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	priv, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s: not a signing key", path)
	}
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		if alg != "RS256" && alg != "RS384" && alg != "RS512" {
			alg = "RS256"
		}
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			alg = "ES256"
		case elliptic.P384():
			alg = "ES384"
		default:
			return nil, fmt.Errorf("signing key %s: unsupported curve", path)
		}
	default:
		return nil, fmt.Errorf("signing key %s: unsupported key type %T", path, priv)
	}
	return newSigningKey(priv, alg)
}

func newSigningKey(priv crypto.Signer, alg string) (*SigningKey, error) {
	k := &SigningKey{priv: priv, alg: jose.SignatureAlgorithm(alg)}
	// The kid is the RFC 7638 thumbprint, so it is stable for a persisted key
	// and changes when the key does.
	pub := jose.JSONWebKey{Key: priv.Public()}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	k.kid = base64.RawURLEncoding.EncodeToString(tp)
	k.signer, err = jose.NewSigner(
		jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: priv, KeyID: k.kid, Algorithm: alg}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Algorithm is the JWS algorithm, e.g. "RS256".
func (k *SigningKey) Algorithm() string { return string(k.alg) }

// Signer returns the private key, for a library that signs with it itself
// (the OpenID Connect provider's ID tokens). Never publish or log it.
func (k *SigningKey) Signer() crypto.Signer { return k.priv }

// KeyID is the kid of the key.
func (k *SigningKey) KeyID() string { return k.kid }

// Public returns the public key as a JWK.
func (k *SigningKey) Public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// JWKS returns the public JWK set to publish at a jwks_uri.
func (k *SigningKey) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.Public()}}
}

// KeySet returns the public key for an [IssuerConfig], so a Verifier checks
// ucp's own tokens without fetching its own discovery document. Like a
// fetched JWKS, it verifies only tokens whose kid names the key.
func (k *SigningKey) KeySet() oidc.KeySet {
	return staticKeySet(k.JWKS().Keys)
}

// Sign returns a compact JWS of the claims (any JSON-marshalable value).
func (k *SigningKey) Sign(claims any) (string, error) {
	return jwt.Signed(k.signer).Claims(claims).Serialize()
}

// NewJTI returns a random token id.
func NewJTI() string {
	return rand.Text()
}
