package sqlite

import (
	"strings"
	"unicode"

	"ucp/store"
)

// isText reports whether c is a _text or _content condition (see
// store.TextParam), answered from the FTS5 table idx_fts.
func isText(c *store.Cond) bool {
	return c.Type == store.Special && (c.Param == store.TextParam || c.Param == store.ContentParam)
}

// textSet writes a SELECT of the rids whose text (c.Param's column of
// idx_fts) has every word of c.Value as a word prefix.
func (q *sqlb) textSet(c *store.Cond) error {
	if c.Missing != nil {
		return store.Errorf(store.Unsupported, "%s:missing is not supported", c.Param)
	}
	m, err := ftsQuery(strings.TrimPrefix(c.Param, "_"), c.Value)
	if err != nil {
		return err
	}
	q.w("SELECT rowid AS rid FROM idx_fts WHERE idx_fts MATCH ")
	q.a(m)
	return nil
}

// ftsQuery builds an FTS5 query matching, in column col, every word of
// value as a word prefix: col : ("w1"* AND "w2"*). Words are runs of
// letters and digits, the same split unicode61 makes, and each is quoted,
// so no character of a client's value can act as FTS5 syntax.
func ftsQuery(col, value string) (string, error) {
	words := strings.FieldsFunc(value, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) == 0 {
		return "", store.Errorf(store.Invalid, "_%s: %q has no word to search for", col, value)
	}
	var b strings.Builder
	b.WriteString(col)
	b.WriteString(" : (")
	for i, w := range words {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(`"`)
		b.WriteString(w) // letters and digits only: no quote to escape
		b.WriteString(`"*`)
	}
	b.WriteString(")")
	return b.String(), nil
}
