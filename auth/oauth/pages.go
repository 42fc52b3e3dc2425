package oauth

import (
	"crypto/subtle"
	"html/template"
	"net/http"
	"strings"

	"ucp/auth"
)

// The pages of the authorization server: plain HTML, no script, readable at
// 375 px wide.
const pageStyle = `<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:0;background:#f0f4f5;color:#212b32;line-height:1.5}
header{background:#005eb8;color:#fff;padding:12px 20px;font-weight:700;font-size:1.1rem}
main{max-width:620px;margin:24px auto;background:#fff;padding:24px;border-radius:4px}
h1{font-size:1.5rem;margin-top:0}
ul{padding-left:1.2rem}
label{display:block;font-weight:700;margin-top:16px}
input[type=text]{font-size:1.1rem;padding:8px;width:100%;max-width:14em;box-sizing:border-box;border:2px solid #4c6272}
.buttons{margin-top:24px;display:flex;gap:12px;flex-wrap:wrap}
button{font-size:1rem;padding:10px 18px;border:0;border-radius:4px;cursor:pointer}
.approve{background:#007f3b;color:#fff}.deny{background:#d8dde0;color:#212b32}
.problem{border-left:6px solid #d5281b;padding:8px 12px;background:#fff;margin:12px 0;color:#d5281b;font-weight:700}
.hint{color:#4c6272}
.dev{background:#ffeb3b;color:#212b32;padding:8px 16px;font-weight:bold;border-bottom:4px solid #212b32}
</style>`

var consentTmpl = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Allow {{.App}} to use ucp?</title>` + pageStyle + `</head>
<body>{{if .Dev}}<div class="dev" role="note" id="dev">DEVELOPMENT SERVER – not for real patients</div>{{end}}<header>ucp · urgent care plans</header><main>
<h1>Allow <span id="app">{{.App}}</span> to use ucp?</h1>
<p>You are signed in as <strong>{{.User}}</strong> ({{.Role}}).</p>
{{if .Problem}}<p class="problem" id="problem">{{.Problem}}</p>{{end}}
<p>If you allow it, the app may, for you:</p>
<ul id="access">{{range .Access}}<li>{{.}}</li>{{else}}<li>nothing: your role allows none of what it asks for</li>{{end}}</ul>
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
<input type="hidden" name="issued" value="{{.Issued}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
{{if .PickPatient}}<label for="nhs_number">Patient's NHS number</label>
<p class="hint">The app will open this patient's record.</p>
<input type="text" id="nhs_number" name="nhs_number" inputmode="numeric" autocomplete="off" required>{{end}}
<div class="buttons">
<button class="approve" type="submit" name="decision" value="approve" id="approve">Allow</button>
<button class="deny" type="submit" name="decision" value="deny" id="deny" formnovalidate>Do not allow</button>
</div></form></main></body></html>`))

type consentData struct {
	Dev             bool
	App, User, Role string
	Access          []string
	PickPatient     bool
	Request, Issued string
	CSRF, Action    string
	Problem         string
}

var errorTmpl = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}}</title>` + pageStyle + `</head>
<body>{{if .Dev}}<div class="dev" role="note" id="dev">DEVELOPMENT SERVER – not for real patients</div>{{end}}<header>ucp · urgent care plans</header><main>
<h1 id="title">{{.Title}}</h1>{{if .Detail}}<p>{{.Detail}}</p>{{end}}
</main></body></html>`))

// errorPage answers a person with a page in plain English.
func (s *Server) errorPage(w http.ResponseWriter, status int, title, detail string) {
	render(w, status, errorTmpl, struct {
		Dev           bool
		Title, Detail string
	}{s.cfg.Dev, title, detail})
}

func render(w http.ResponseWriter, status int, t *template.Template, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Nobody may frame the approval page (clickjacking).
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = t.Execute(w, data)
}

// describeScopes says what granted scopes let an app do, in words.
func describeScopes(granted []string) []string {
	var out []string
	for _, g := range granted {
		switch g {
		case ScopeOpenID, ScopeFHIRUser:
			if !containsPrefix(out, "know who you are") {
				out = append(out, "know who you are")
			}
			continue
		case ScopeOffline:
			out = append(out, "keep access after you close it, for up to 12 hours unless the access is revoked")
			continue
		case ScopeOnline:
			out = append(out, "keep access while you use it")
			continue
		case ScopeLaunch, ScopeLaunchPatient:
			continue
		}
		s, err := auth.ParseScope(g)
		if err != nil || !s.IsResource() {
			continue
		}
		what := s.Type
		if what == "*" {
			what = "all records"
		}
		verbs := []string{}
		if s.Perm&(auth.PermRead|auth.PermSearch) != 0 {
			verbs = append(verbs, "read")
		}
		if s.Perm&auth.PermCreate != 0 {
			verbs = append(verbs, "create")
		}
		if s.Perm&auth.PermUpdate != 0 {
			verbs = append(verbs, "change")
		}
		if s.Perm&auth.PermDelete != 0 {
			verbs = append(verbs, "delete")
		}
		whose := "any patient you may see"
		if s.Level == auth.LevelPatient {
			whose = "the patient it is opened on"
		}
		out = append(out, strings.Join(verbs, ", ")+" "+what+" of "+whose)
	}
	return out
}

func containsPrefix(ss []string, p string) bool {
	for _, s := range ss {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func hmacEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
