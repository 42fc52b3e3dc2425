package nrl_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"ucp/nrl"
)

// The NHS API platform's signed-JWT flow: a client assertion signed RS512
// with the kid, for the token URL, exchanged for a token that is kept until
// a minute before it expires.
func TestTokenSource(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		got := map[string]string{"grant_type": r.PostForm.Get("grant_type"), "client_assertion_type": r.PostForm.Get("client_assertion_type")}
		want := map[string]string{"grant_type": "client_credentials", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("form mismatch (-want +got):\n%s", diff)
		}
		tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS512})
		if err != nil {
			t.Fatal(err)
		}
		if kid := tok.Headers[0].KeyID; kid != "key-1" {
			t.Errorf("kid %q, want key-1", kid)
		}
		var c jwt.Claims
		if err := tok.Claims(&key.PublicKey, &c); err != nil {
			t.Fatalf("the assertion's signature: %v", err)
		}
		if c.Issuer != "app-id" || c.Subject != "app-id" || !c.Audience.Contains(srvURL) || c.ID == "" || c.Expiry == nil {
			t.Errorf("claims %+v: want iss = sub = app-id, aud the token URL, a jti and an expiry", c)
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": "token-" + string(rune('0'+calls.Load())), "expires_in": "599", "token_type": "Bearer"})
	}))
	defer srv.Close()
	srvURL = srv.URL
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	ts := &nrl.TokenSource{TokenURL: srv.URL, ClientID: "app-id", Key: key, KID: "key-1", Now: func() time.Time { return now }}
	ctx := context.Background()
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{
		{0, "token-1"},
		{5 * time.Minute, "token-1"}, // cached
		{4 * time.Minute, "token-2"}, // within a minute of its expiry
	} {
		now = now.Add(step.advance)
		got, err := ts.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != step.want {
			t.Errorf("after %s: token %q, want %q", step.advance, got, step.want)
		}
	}
}

// Without a token URL (a local sandbox) no Authorization header is sent;
// with one, the cached token is; every request names the organisation and
// carries a fresh request id and the job's correlation id.
func TestClientHeaders(t *testing.T) {
	seen := make(chan http.Header, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			json.NewEncoder(w).Encode(map[string]any{"access_token": "tok", "expires_in": 600})
			return
		}
		seen <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/fhir+json;version=1")
		w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","total":0,"entry":[]}`))
	}))
	defer srv.Close()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tokens *nrl.TokenSource
		auth   string
	}{
		{"sandbox", nil, ""},
		{"platform", &nrl.TokenSource{TokenURL: srv.URL + "/token", ClientID: "app", Key: key, KID: "k"}, "Bearer tok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &nrl.Client{Base: srv.URL, ODS: "X26", Tokens: tc.tokens}
			if _, err := c.Search(context.Background(), "job-1", "9000000009", ""); err != nil {
				t.Fatal(err)
			}
			h := <-seen
			got := []string{h.Get("Authorization"), h.Get("NHSD-End-User-Organisation-ODS"), h.Get("X-Correlation-ID"), h.Get("Content-Type")}
			if diff := cmp.Diff([]string{tc.auth, "X26", "job-1", "application/json"}, got); diff != "" {
				t.Errorf("headers mismatch (-want +got):\n%s", diff)
			}
			if len(h.Get("X-Request-ID")) != 36 {
				t.Errorf("X-Request-ID %q: want a UUID", h.Get("X-Request-ID"))
			}
		})
	}
}
