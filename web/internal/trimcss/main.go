// Command trimcss cuts the NHS.UK frontend's compiled CSS down to the
// components the web app uses, so a page with its styles stays well under
// 150 KB. It keeps every rule whose selectors use only the kept nhsuk-
// classes (or none), drops @font-face (the fonts live on another origin,
// which NHS networks may not reach; the stack falls back to Arial) and
// rules that fetch images from /assets, which ucp does not serve.
//
//	go run ./web/internal/trimcss nhsuk-frontend-10.6.1.min.css > web/static/nhsuk.min.css
//
// The input is package/dist/nhsuk/nhsuk-frontend.min.css of the npm package
// nhsuk-frontend, fetched with `npm pack nhsuk-frontend@10.6.1`.
package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// kept lists the nhsuk- class prefixes the templates use.
var kept = []string{
	"nhsuk-header", "nhsuk-footer", "nhsuk-width-container", "nhsuk-main-wrapper", "nhsuk-grid-",
	"nhsuk-u-visually-hidden", "nhsuk-u-margin-bottom-", "nhsuk-u-margin-top-", "nhsuk-u-font-weight-bold",
	"nhsuk-u-secondary-text-colour", "nhsuk-u-reading-width", "nhsuk-button", "nhsuk-form-group", "nhsuk-label", "nhsuk-input", "nhsuk-hint",
	"nhsuk-error-message", "nhsuk-error-summary", "nhsuk-fieldset", "nhsuk-radios", "nhsuk-select",
	"nhsuk-textarea", "nhsuk-warning-callout", "nhsuk-inset-text", "nhsuk-summary-list", "nhsuk-table",
	"nhsuk-tag", "nhsuk-skip-link", "nhsuk-back-link", "nhsuk-body", "nhsuk-heading", "nhsuk-list",
	"nhsuk-link", "nhsuk-caption", "nhsuk-frontend-supported",
	"nhsuk-template", "nhsuk-icon", "nhsuk-lede-text",
}

// dropped lists prefixes inside kept ones that the templates do not use.
var dropped = []string{
	"nhsuk-header__search", "nhsuk-header__navigation", "nhsuk-header__menu", "nhsuk-header__account",
	"nhsuk-header--white", "nhsuk-header__drop-down", "nhsuk-table-responsive", "nhsuk-button--login",
	"nhsuk-button--reverse", "nhsuk-notification-banner", "nhsuk-input-wrapper", "nhsuk-u-margin-bottom-9",
	"nhsuk-u-margin-bottom-8", "nhsuk-u-margin-top-9", "nhsuk-u-margin-top-8",
}

var classRe = regexp.MustCompile(`\.(nhsuk-[a-zA-Z0-9_-]+)`)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: trimcss nhsuk-frontend.min.css")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(trim(string(b)))
}

func keepSelector(sel string) bool {
	for _, m := range classRe.FindAllStringSubmatch(sel, -1) {
		ok := false
		for _, d := range dropped {
			if strings.HasPrefix(m[1], d) {
				return false
			}
		}
		for _, k := range kept {
			if strings.HasPrefix(m[1], k) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// trim walks a block of rules.
func trim(css string) string {
	var out strings.Builder
	i := 0
	for i < len(css) {
		// Comments: keep the licence ones (/*!).
		if strings.HasPrefix(css[i:], "/*") {
			end := strings.Index(css[i+2:], "*/")
			if end < 0 {
				break
			}
			c := css[i : i+2+end+2]
			if strings.HasPrefix(c, "/*!") {
				out.WriteString(c)
			}
			i += len(c)
			continue
		}
		if css[i] == ' ' || css[i] == '\n' || css[i] == '\t' {
			i++
			continue
		}
		j := i
		for j < len(css) && css[j] != '{' && css[j] != ';' {
			j++
		}
		if j >= len(css) {
			break
		}
		prelude := css[i:j]
		if css[j] == ';' { // @charset, @import
			out.WriteString(prelude + ";")
			i = j + 1
			continue
		}
		end := matching(css, j)
		body := css[j+1 : end]
		i = end + 1
		switch {
		case strings.HasPrefix(prelude, "@font-face"):
		case strings.HasPrefix(prelude, "@media"), strings.HasPrefix(prelude, "@supports"), strings.HasPrefix(prelude, "@layer"):
			if inner := trim(body); inner != "" {
				out.WriteString(prelude + "{" + inner + "}")
			}
		case strings.HasPrefix(prelude, "@"):
			out.WriteString(prelude + "{" + body + "}")
		default:
			if strings.Contains(body, "url(/assets") {
				continue
			}
			var sels []string
			for _, s := range splitTop(prelude) {
				if keepSelector(s) {
					sels = append(sels, s)
				}
			}
			if len(sels) > 0 {
				out.WriteString(strings.Join(sels, ",") + "{" + body + "}")
			}
		}
	}
	return out.String()
}

// matching returns the index of the brace closing the one at open.
func matching(s string, open int) int {
	depth := 0
	for k := open; k < len(s); k++ {
		switch s[k] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return k
			}
		}
	}
	return len(s) - 1
}

// splitTop splits a selector list at commas outside parentheses.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	for k := 0; k < len(s); k++ {
		switch s[k] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:k])
				start = k + 1
			}
		}
	}
	return append(parts, s[start:])
}
