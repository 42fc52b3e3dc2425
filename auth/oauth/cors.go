package oauth

import "net/http"

// CORS lets browser apps on any origin call h: SMART apps run in the
// browser and read discovery, metadata, the token endpoint and the FHIR API
// from another origin. Credentials (cookies) are never allowed, so a page
// elsewhere can do only what a Bearer token it holds lets it. A preflight
// (OPTIONS with Access-Control-Request-Method) is answered here.
func CORS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Origin", "*")
			hd.Set("Access-Control-Expose-Headers", "Location, ETag, Content-Location, Last-Modified, WWW-Authenticate")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
				hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist, X-Break-Glass")
				hd.Set("Access-Control-Max-Age", "600")
				hd.Add("Vary", "Origin")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
