package launch

import (
	"html/template"
	"net/http"
)

// page is what a page of the doors shows: a heading, plain words, and at
// most one form.
type page struct {
	Title  string
	Lead   string
	Detail []string
	Dev    bool
	// Action, when set, shows the page's form.
	Form *form
	// Links are plain links shown under the text.
	Links []link
}

type link struct{ Href, Text string }

type form struct {
	Action string
	CSRF   string
	Button string
	Fields []field
	Hidden map[string]string
}

type field struct {
	Name, Label, Hint, Value string
	// Options makes the field a select.
	Options []option
}

type option struct {
	Value, Text string
	Selected    bool
}

// pageTemplate is the one layout of the doors' pages: no script, no
// request to any other origin, readable at 375 px.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} – ucp</title>
<style>
body{font-family:Arial,Helvetica,sans-serif;margin:0;color:#212b32;background:#f0f4f5;font-size:19px;line-height:1.5}
header{background:#005eb8;color:#fff;padding:12px 16px;font-weight:bold}
.dev{background:#ffeb3b;color:#212b32;padding:8px 16px;font-weight:bold;border-bottom:4px solid #212b32}
main{max-width:640px;margin:0 auto;padding:16px}
h1{font-size:32px;line-height:1.2;margin:16px 0}
.lead{font-size:22px}
label{display:block;font-weight:bold;margin-top:16px}
.hint{color:#4c6272;font-size:16px}
input,select{font-size:19px;padding:6px;border:2px solid #4c6272;width:100%;max-width:420px;box-sizing:border-box;min-height:44px}
button{display:block;margin-top:24px;font-size:19px;font-weight:bold;background:#007f3b;color:#fff;border:0;padding:12px 20px;min-height:44px;box-shadow:0 4px 0 #00401e;cursor:pointer}
a{color:#005eb8}
:focus{outline:4px solid #ffeb3b;box-shadow:0 4px 0 #212b32}
</style>
</head>
<body>
{{if .Dev}}<div class="dev" role="note">DEVELOPMENT SERVER – not for real patients</div>{{end}}
<header>ucp – urgent care plans</header>
<main>
<h1>{{.Title}}</h1>
{{if .Lead}}<p class="lead">{{.Lead}}</p>{{end}}
{{range .Detail}}<p>{{.}}</p>{{end}}
{{with .Form}}<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
{{range .Fields}}<label for="{{.Name}}">{{.Label}}</label>{{if .Hint}}<div class="hint" id="{{.Name}}-hint">{{.Hint}}</div>{{end}}
{{if .Options}}<select id="{{.Name}}" name="{{.Name}}">{{range .Options}}<option value="{{.Value}}"{{if .Selected}} selected{{end}}>{{.Text}}</option>{{end}}</select>
{{else}}<input id="{{.Name}}" name="{{.Name}}" value="{{.Value}}"{{if .Hint}} aria-describedby="{{.Name}}-hint"{{end}}>{{end}}
{{end}}<button type="submit">{{.Button}}</button>
</form>{{end}}
{{range .Links}}<p><a href="{{.Href}}">{{.Text}}</a></p>{{end}}
</main>
</body>
</html>
`))

func (d *Doors) render(w http.ResponseWriter, status int, p page) {
	p.Dev = p.Dev || d.cfg.Dev
	d.cfg.Sessions.SetFrameHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	// A failed write is a gone browser; nothing to tell it.
	_ = pageTemplate.Execute(w, p)
}
