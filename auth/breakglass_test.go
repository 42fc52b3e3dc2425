package auth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"ucp/auth"
)

func TestBreakGlass(t *testing.T) {
	for _, test := range []struct {
		name   string
		role   auth.Role
		header []string
		want   int    // status from BreakGlassHandler
		reason string // seen by the next handler
	}{
		{"absent", auth.RoleView, nil, 200, ""},
		{"view", auth.RoleView, []string{"  unconscious in ED, no plan visible "}, 200, "unconscious in ED, no plan visible"},
		{"clinical", auth.RoleClinical, []string{"cardiac arrest"}, 200, "cardiac arrest"},
		{"admin", auth.RoleAdmin, []string{"cardiac arrest"}, 403, ""},
		{"patient", auth.RolePatient, []string{"cardiac arrest"}, 403, ""},
		// A system has no person who could be held to the reason.
		{"system", auth.RoleSystem, []string{"cardiac arrest"}, 403, ""},
		{"no role", auth.RoleNone, []string{"cardiac arrest"}, 403, ""},
		{"empty", auth.RoleView, []string{"  "}, 403, ""},
		{"short", auth.RoleView, []string{"x"}, 403, ""},
		{"long", auth.RoleView, []string{strings.Repeat("a", auth.MaxBreakGlassReason+1)}, 403, ""},
		{"control", auth.RoleView, []string{"reason\x1bwith escape"}, 403, ""},
		// Line breaks and tabs inside the reason (the ends are trimmed)
		// would forge lines or fields in logs and audit displays.
		{"LF", auth.RoleView, []string{"cardiac arrest\nAUDIT ok"}, 403, ""},
		{"CR", auth.RoleView, []string{"cardiac arrest\rAUDIT ok"}, 403, ""},
		{"CRLF", auth.RoleView, []string{"cardiac arrest\r\nAUDIT ok"}, 403, ""},
		{"TAB", auth.RoleView, []string{"cardiac\tarrest"}, 403, ""},
		{"line separator", auth.RoleView, []string{"cardiac arrest\u2028AUDIT ok"}, 403, ""},
		{"two", auth.RoleView, []string{"reason one", "reason two"}, 403, ""},
	} {
		t.Run(test.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/fhir/CarePlan", nil)
			for _, h := range test.header {
				r.Header.Add(auth.BreakGlassHeader, h)
			}
			r = r.WithContext(auth.NewContext(r.Context(), &auth.Principal{Role: test.role}))
			var got string
			var called bool
			h := auth.BreakGlassHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				got, _ = auth.BreakGlass(r)
			}))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != test.want {
				t.Fatalf("status = %d, want %d (%s)", w.Code, test.want, w.Body)
			}
			if called != (test.want == 200) || got != test.reason {
				t.Errorf("next called=%v reason=%q, want reason %q", called, got, test.reason)
			}
			reason, ok := auth.BreakGlass(r)
			if ok != (test.reason != "") || reason != test.reason {
				t.Errorf("BreakGlass = %q, %v", reason, ok)
			}
		})
	}
}
