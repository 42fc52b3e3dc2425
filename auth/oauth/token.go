package oauth

import (
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// token is the one token endpoint: client_credentials goes to Backend
// Services (auth/smart), authorization_code and refresh_token to fosite.
// Every response carries Cache-Control: no-store and Pragma: no-cache.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.fosite.WriteAccessError(ctx, w, nil, fosite.ErrInvalidRequest.WithHint("The body could not be read."))
		return
	}
	if r.PostForm.Get("grant_type") == "client_credentials" && s.cfg.Backend != nil {
		s.cfg.Backend.ServeHTTP(w, r)
		return
	}
	ar, err := s.fosite.NewAccessRequest(ctx, r, newSession())
	if err != nil {
		s.fosite.WriteAccessError(ctx, w, ar, err)
		return
	}
	if err := narrow(ar, r.PostForm.Get("scope")); err != nil {
		s.fosite.WriteAccessError(ctx, w, ar, err)
		return
	}
	resp, err := s.fosite.NewAccessResponse(ctx, ar)
	if err != nil {
		s.fosite.WriteAccessError(ctx, w, ar, err)
		return
	}
	// SMART's launch context in the response, from the session the code
	// or the refresh token carries, so a refresh answers it again.
	if sess, ok := ar.GetSession().(*Session); ok {
		for k, v := range sess.tokenResponseExtra() {
			resp.SetExtra(k, v)
		}
	}
	s.fosite.WriteAccessResponse(ctx, w, ar, resp)
}

// narrow applies a refresh request's scope parameter (RFC 6749 §6): the new
// access token gets those scopes, each of which must have been granted
// before; fosite would otherwise grant all of the original ones.
func narrow(ar fosite.AccessRequester, scope string) error {
	if !ar.GetGrantTypes().ExactOne("refresh_token") || strings.TrimSpace(scope) == "" {
		return nil
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok {
		return fosite.ErrServerError
	}
	want := strings.Fields(scope)
	for _, w := range want {
		if !req.GrantedScope.Has(w) {
			return fosite.ErrInvalidScope.WithHintf("Scope %q was not granted to this refresh token.", w)
		}
	}
	req.GrantedScope = fosite.Arguments(want)
	return nil
}

// introspect is RFC 7662 token introspection, for an authenticated client
// (or a caller holding an active access token): the launch context is in the
// answer beside active, scope, client_id, sub and exp.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	ir, err := s.fosite.NewIntrospectionRequest(ctx, r, newSession())
	if err != nil {
		s.fosite.WriteIntrospectionError(ctx, w, err)
		return
	}
	s.fosite.WriteIntrospectionResponse(ctx, w, ir)
}

// revoke is RFC 7009 token revocation: a refresh token revokes its family,
// an access token itself (it still verifies until it expires, at most
// MaxAccessTokenTTL, but is no longer introspected as active).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	err := s.fosite.NewRevocationRequest(ctx, r)
	s.fosite.WriteRevocationResponse(ctx, w, err)
}
