package search

import (
	"html"
	"sort"
	"strings"
	"unicode"

	"ucp/store"
)

// Full-text search: _text and _content (R4 search.html#text).
//
// Extract adds at most one store.Entry of each (Type store.Special, Norm
// the normalised words; see store.TextParam):
//
//   - _text: the narrative, text.div with its markup stripped and its
//     character references decoded;
//   - _content: every string value of the resource, in key order, the
//     narrative as for _text, except resourceType and base64 "data"
//     (Attachment.data, Binary.data), which are not text and would only
//     bloat the index.
//
// Parse turns _text=v and _content=v into store.Cond{Param, Type Special,
// Value normalised}: a resource matches when every word of v is the prefix
// of a word of its text, case- and accent-insensitively ("heart fail" finds
// "Heart failure"); "," ORs values as usual and repeating the parameter ANDs
// them. No modifier is supported; a value without a letter or digit is
// Invalid. Resources written before this extraction existed are found once
// reindexed ($reindex).

// isTextParam reports whether code is _text or _content.
func isTextParam(code string) bool { return code == store.TextParam || code == store.ContentParam }

// textEntries returns the _text and _content entries of res.
func textEntries(res map[string]any) []store.Entry {
	if res["resourceType"] == "AuditEvent" {
		// The server writes one per interaction and nobody searches them
		// by free text; indexing every string of each was a third of a
		// read's cost in the audit drain.
		return nil
	}
	var out []store.Entry
	narr := ""
	if t, ok := res["text"].(map[string]any); ok {
		if div, ok := t["div"].(string); ok {
			narr = normalize(stripMarkup(div))
		}
	}
	if narr != "" {
		out = append(out, store.Entry{Param: store.TextParam, Type: store.Special, Norm: narr})
	}
	var parts []string
	collectStrings(res, "", &parts)
	if content := normalize(strings.Join(parts, " ")); content != "" {
		out = append(out, store.Entry{Param: store.ContentParam, Type: store.Special, Norm: content})
	}
	return out
}

// collectStrings appends the string values of v (key is v's own key in its
// parent) in a deterministic order.
func collectStrings(v any, key string, out *[]string) {
	switch v := v.(type) {
	case string:
		switch key {
		case "resourceType", "data":
		case "div":
			*out = append(*out, stripMarkup(v))
		default:
			*out = append(*out, v)
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			collectStrings(v[k], k, out)
		}
	case []any:
		for _, x := range v {
			collectStrings(x, key, out)
		}
	}
}

// stripMarkup returns the text of XHTML: tags dropped (each as a space, so
// "<td>a</td><td>b</td>" stays two words) and character references decoded.
func stripMarkup(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		b.WriteByte(' ')
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break
		}
		s = s[i+j+1:]
	}
	return html.UnescapeString(b.String())
}

// parseText parses a _text or _content value (comma-separated, ORed).
func parseText(code, key, mod, value string) ([]store.Clause, error) {
	if mod != "" {
		return nil, ignore("%s: modifier %q is not supported", key, mod)
	}
	var cl store.Clause
	for _, v := range splitEscaped(value, ',') {
		v = normalize(unescape(v))
		if strings.IndexFunc(v, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) < 0 {
			return nil, invalid("%s: %q has no word to search for", key, v)
		}
		cl.Any = append(cl.Any, store.Cond{Param: code, Type: store.Special, Value: v})
	}
	return []store.Clause{cl}, nil
}
